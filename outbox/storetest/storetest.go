// Package storetest is the contract suite every outbox.Store backend must
// pass. A backend's test calls Run with a function that opens a fresh,
// empty store and closes it in t.Cleanup.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/outbox"
)

// Checker is implemented by stores that can verify their own internal
// consistency (indexes, counters). Run calls Check after every test. The
// outbox stores implement it in their package's test code
// (bolt_check_test.go, redis_check_test.go), so only the outbox package's
// own tests see it; other packages check a store with CheckInvariants.
type Checker interface {
	Check() error
}

// Run runs the contract suite. open must return a new empty store and
// arrange for it to be closed in t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) outbox.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s outbox.Store)
	}{
		{"EnqueueGet", testEnqueueGet},
		{"EnqueueInvalid", testEnqueueInvalid},
		{"EnqueueDelayed", testEnqueueDelayed},
		{"IDsSortInEnqueueOrder", testIDOrder},
		{"IdempotencyReturnsExisting", testIdempotencyExisting},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"ListFilters", testListFilters},
		{"ListCursor", testListCursor},
		{"Interaction", testInteraction},
		{"ClaimOrderPerInteraction", testClaimOrder},
		{"ConcurrentEnqueueKeepsOrder", testConcurrentEnqueueOrder},
		{"ClaimEarliestFirstUpToMax", testClaimMax},
		{"ClaimConcurrentNoDuplicates", testClaimConcurrent},
		{"ClaimSkipsPausedDependency", testClaimPaused},
		{"FailRetryAndDead", testFail},
		{"DeadHoldsLaterJobs", testDeadBlocks},
		{"HeldWaitsThenRunsAgain", testHeld},
		{"CompleteFailRequireInflight", testRequireInflight},
		{"Replay", testReplay},
		{"ReplayDoneJobGoesFirst", testReplayDone},
		{"Purge", testPurge},
		{"PurgeDeadReleasesHeldJobs", testPurgeDead},
		{"Stats", testStats},
		{"RecoverInflight", testRecover},
		{"OriginKeptThroughClaim", testOrigin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			// Registered after open's Close, so it runs before it.
			t.Cleanup(func() { CheckInvariants(t, s) })
			tt.fn(t, s)
		})
	}
}

func testEnqueueGet(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	j, created, err := s.Enqueue(ctx, outbox.Job{
		Kind:           "crm.create_record",
		Dependency:     "crm",
		InteractionID:  "int-1",
		IdempotencyKey: "key-1",
		Payload:        json.RawMessage(`{"subject":"call"}`),
		State:          outbox.Dead, // ignored
		Attempts:       7,           // ignored
	})
	if err != nil || !created {
		t.Fatalf("Enqueue = %v, %v, want created", created, err)
	}
	if len(j.ID) != 26 {
		t.Errorf("ID = %q, want a 26-character ULID", j.ID)
	}
	if j.State != outbox.Pending || j.Attempts != 0 {
		t.Errorf("State, Attempts = %s, %d, want pending, 0", j.State, j.Attempts)
	}
	if j.CreatedAt.Before(before) || j.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want about now", j.CreatedAt)
	}
	if !j.NextAttemptAt.Equal(j.CreatedAt) || !j.UpdatedAt.Equal(j.CreatedAt) {
		t.Errorf("NextAttemptAt, UpdatedAt = %v, %v, want CreatedAt %v", j.NextAttemptAt, j.UpdatedAt, j.CreatedAt)
	}
	got, err := s.Get(ctx, j.ID)
	if err != nil {
		t.Fatalf("Get(%s): %v", j.ID, err)
	}
	if diff := cmp.Diff(j, got); diff != "" {
		t.Errorf("Get differs from Enqueue (-enqueue +get):\n%s", diff)
	}
	if string(got.Payload) != `{"subject":"call"}` {
		t.Errorf("Payload = %s", got.Payload)
	}
	if _, err := s.Get(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Get(unknown) error = %v, want ErrNotFound", err)
	}
}

// testOrigin: the request that queued a job (its request id and trace
// context) is stored with it, durably, and comes back from Get, List and
// Claim, which is where the dispatcher reads it.
func testOrigin(t *testing.T, s outbox.Store) {
	o := outbox.Origin{
		RequestID:   "req-origin-1",
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		TraceState:  "vendor=abc",
	}
	j := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", Dependency: "crm", InteractionID: "int-o", Payload: json.RawMessage(`{}`), Origin: o})
	if j.Origin != o {
		t.Errorf("Enqueue: Origin = %+v, want %+v", j.Origin, o)
	}
	if got := get(t, s, j.ID); got.Origin != o {
		t.Errorf("Get: Origin = %+v, want %+v", got.Origin, o)
	}
	if all := listAll(t, s, outbox.Filter{}); len(all) != 1 || all[0].Origin != o {
		t.Errorf("List = %+v, want one job with Origin %+v", all, o)
	}
	claimed := wantClaim(t, s, time.Now().Add(time.Second), 1, nil, j.ID)
	if claimed[0].Origin != o {
		t.Errorf("Claim: Origin = %+v, want %+v", claimed[0].Origin, o)
	}
	plain := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", Dependency: "crm"})
	if got := get(t, s, plain.ID); got.Origin != (outbox.Origin{}) {
		t.Errorf("a job queued without an origin has Origin %+v, want zero", got.Origin)
	}
}

func testEnqueueInvalid(t *testing.T, s outbox.Store) {
	for name, j := range map[string]outbox.Job{
		"no kind":         {},
		"bad payload":     {Kind: "k", Payload: json.RawMessage(`{`)},
		"NUL interaction": {Kind: "k", InteractionID: "a\x00b"},
		"NUL dependency":  {Kind: "k", Dependency: "crm\x00"},
	} {
		if _, _, err := s.Enqueue(t.Context(), j); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Enqueue(%s) error = %v, want ErrInvalid", name, err)
		}
	}
}

func testEnqueueDelayed(t *testing.T, s outbox.Store) {
	now := time.Now()
	at := now.Add(time.Hour)
	j := enqueue(t, s, outbox.Job{Kind: "k", NextAttemptAt: at})
	if !j.NextAttemptAt.Equal(at) {
		t.Errorf("NextAttemptAt = %v, want %v", j.NextAttemptAt, at)
	}
	wantClaim(t, s, now, 10, nil)
	wantClaim(t, s, at, 10, nil, j.ID)
}

func testIDOrder(t *testing.T, s outbox.Store) {
	var ids []string
	for range 20 {
		ids = append(ids, enqueue(t, s, outbox.Job{Kind: "k"}).ID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids of sequential enqueues are not sorted: %v", ids)
	}
}

func testIdempotencyExisting(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	first := enqueue(t, s, outbox.Job{Kind: "k", IdempotencyKey: "same", Payload: json.RawMessage(`1`)})
	got, created, err := s.Enqueue(ctx, outbox.Job{Kind: "other", IdempotencyKey: "same", Payload: json.RawMessage(`2`)})
	if err != nil || created {
		t.Fatalf("second Enqueue = created %v, %v, want existing job", created, err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("second Enqueue returned another job (-first +got):\n%s", diff)
	}
	// Still deduplicated after the job is done.
	claimOne(t, s, first.ID)
	complete(t, s, first.ID, nil)
	if _, created, _ := s.Enqueue(ctx, outbox.Job{Kind: "k", IdempotencyKey: "same"}); created {
		t.Errorf("Enqueue after done created a second job")
	}
	if n := len(listAll(t, s, outbox.Filter{})); n != 1 {
		t.Errorf("store holds %d jobs, want 1", n)
	}
}

func testIdempotencyConcurrent(t *testing.T, s outbox.Store) {
	const n = 100
	var wg sync.WaitGroup
	ids := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			j, c, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", IdempotencyKey: "one", Payload: json.RawMessage(fmt.Sprint(i))})
			ids[i], created[i], errs[i] = j.ID, c, err
		})
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Enqueue #%d: %v", i, errs[i])
		}
		if created[i] {
			nCreated++
		}
		if ids[i] != ids[0] {
			t.Errorf("Enqueue #%d returned %s, #0 returned %s", i, ids[i], ids[0])
		}
	}
	if nCreated != 1 {
		t.Errorf("%d of %d concurrent Enqueues created a job, want 1", nCreated, n)
	}
	if got := len(listAll(t, s, outbox.Filter{})); got != 1 {
		t.Errorf("store holds %d jobs, want 1", got)
	}
}

func testListFilters(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	a1 := enqueue(t, s, outbox.Job{Kind: "crm.create_record", Dependency: "crm", InteractionID: "a"})
	a2 := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", Dependency: "crm", InteractionID: "a"})
	b1 := enqueue(t, s, outbox.Job{Kind: "blob.upload", Dependency: "blob", InteractionID: "b"})
	time.Sleep(5 * time.Millisecond) // a distinct creation time for Since
	since := time.Now()
	c1 := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", Dependency: "crm"})
	claimOne(t, s, a1.ID)
	complete(t, s, a1.ID, nil)

	for _, tt := range []struct {
		name string
		f    outbox.Filter
		want []string
	}{
		{"all", outbox.Filter{}, []string{a1.ID, a2.ID, b1.ID, c1.ID}},
		{"state done", outbox.Filter{State: outbox.Done}, []string{a1.ID}},
		{"state pending", outbox.Filter{State: outbox.Pending}, []string{a2.ID, b1.ID, c1.ID}},
		{"kind", outbox.Filter{Kind: "crm.add_comment"}, []string{a2.ID, c1.ID}},
		{"dependency", outbox.Filter{Dependency: "blob"}, []string{b1.ID}},
		{"interaction", outbox.Filter{Interaction: "a"}, []string{a1.ID, a2.ID}},
		{"interaction and state", outbox.Filter{Interaction: "a", State: outbox.Pending}, []string{a2.ID}},
		{"since", outbox.Filter{Since: since}, []string{c1.ID}},
		{"since and state", outbox.Filter{Since: since, State: outbox.Pending}, []string{c1.ID}},
		{"no match", outbox.Filter{Interaction: "zzz"}, nil},
	} {
		if diff := cmp.Diff(tt.want, ids(listAll(t, s, tt.f))); diff != "" {
			t.Errorf("List(%s) (-want +got):\n%s", tt.name, diff)
		}
	}
	if _, _, err := s.List(ctx, outbox.Filter{State: "bogus"}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("List(state bogus) error = %v, want ErrInvalid", err)
	}
}

func testListCursor(t *testing.T, s outbox.Store) {
	var want []string
	for i := range 7 {
		want = append(want, enqueue(t, s, outbox.Job{Kind: "k", InteractionID: fmt.Sprint(i % 2)}).ID)
	}
	for _, limit := range []int{1, 2, 3, 7, 8} {
		var got []string
		cursor, pages := "", 0
		for {
			jobs, next, err := s.List(t.Context(), outbox.Filter{Limit: limit, Cursor: cursor})
			if err != nil {
				t.Fatalf("List(limit %d, cursor %q): %v", limit, cursor, err)
			}
			if len(jobs) > limit {
				t.Fatalf("List(limit %d) returned %d jobs", limit, len(jobs))
			}
			got = append(got, ids(jobs)...)
			pages++
			if next == "" {
				break
			}
			if pages > 10 {
				t.Fatalf("List(limit %d) never ends", limit)
			}
			cursor = next
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages of %d (-want +got):\n%s", limit, diff)
		}
	}
	// Cursor within an index.
	jobs, next, err := s.List(t.Context(), outbox.Filter{Interaction: "0", Limit: 2})
	if err != nil || len(jobs) != 2 || next == "" {
		t.Fatalf("List(interaction 0, limit 2) = %d jobs, next %q, %v", len(jobs), next, err)
	}
	rest, next, err := s.List(t.Context(), outbox.Filter{Interaction: "0", Limit: 2, Cursor: next})
	if err != nil || next != "" {
		t.Fatalf("List(interaction 0, page 2) next %q, %v", next, err)
	}
	if diff := cmp.Diff([]string{want[0], want[2], want[4], want[6]}, ids(append(jobs, rest...))); diff != "" {
		t.Errorf("interaction pages (-want +got):\n%s", diff)
	}
}

func testInteraction(t *testing.T, s outbox.Store) {
	rec := enqueue(t, s, outbox.Job{Kind: "crm.create_record", InteractionID: "call-1"})
	com := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "call-1"})
	enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "call-2"})
	claimOne(t, s, rec.ID)
	complete(t, s, rec.ID, json.RawMessage(`{"record_id":"500X"}`))
	jobs, err := s.Interaction(t.Context(), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{rec.ID, com.ID}, ids(jobs)); diff != "" {
		t.Fatalf("Interaction(call-1) (-want +got):\n%s", diff)
	}
	if string(jobs[0].Result) != `{"record_id":"500X"}` || jobs[0].State != outbox.Done || jobs[0].Attempts != 1 {
		t.Errorf("done record = %s, attempts %d, result %s", jobs[0].State, jobs[0].Attempts, jobs[0].Result)
	}
	if jobs, err := s.Interaction(t.Context(), "none"); err != nil || len(jobs) != 0 {
		t.Errorf("Interaction(none) = %v, %v, want nothing", jobs, err)
	}
}

func testClaimOrder(t *testing.T, s outbox.Store) {
	a1 := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	a2 := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	a3 := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	b1 := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "b"})
	c1 := enqueue(t, s, outbox.Job{Kind: "k"})
	c2 := enqueue(t, s, outbox.Job{Kind: "k"})
	now := time.Now()

	wantClaim(t, s, now, 10, nil, a1.ID, b1.ID, c1.ID, c2.ID)
	wantClaim(t, s, now, 10, nil) // a2 waits for inflight a1
	complete(t, s, a1.ID, nil)
	complete(t, s, b1.ID, nil)
	wantClaim(t, s, now, 10, nil, a2.ID)

	// a2 in backoff: a3 must wait for it, even when a3 is due.
	fail(t, s, a2.ID, outbox.Failure{Err: "503", RetryAt: now.Add(time.Minute)})
	wantClaim(t, s, now.Add(time.Second), 10, nil)
	wantClaim(t, s, now.Add(2*time.Minute), 10, nil, a2.ID)
	complete(t, s, a2.ID, nil)
	wantClaim(t, s, now.Add(2*time.Minute), 10, nil, a3.ID)
}

// testConcurrentEnqueueOrder enqueues from many goroutines at once (so a
// store that commits concurrent jobs together gets batches mixing
// interactions, new jobs and repeated idempotency keys), then runs every
// job: each interaction's jobs come one at a time, in ID order, and each
// idempotency key made one job.
func testConcurrentEnqueueOrder(t *testing.T, s outbox.Store) {
	const interactions, per = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, interactions*per*2)
	for i := range interactions * per {
		for range 2 { // every key twice
			wg.Go(func() {
				iid := fmt.Sprint("call-", i%interactions)
				_, _, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", Dependency: "crm", InteractionID: iid,
					IdempotencyKey: fmt.Sprint("key-", i), Payload: json.RawMessage(fmt.Sprint(i))})
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Enqueue: %v", err)
	}
	all := listAll(t, s, outbox.Filter{})
	if len(all) != interactions*per {
		t.Fatalf("store holds %d jobs, want %d (one per idempotency key)", len(all), interactions*per)
	}
	want := map[string][]string{} // interaction -> ids in ID order
	for _, j := range all {
		want[j.InteractionID] = append(want[j.InteractionID], j.ID)
	}
	got := map[string][]string{}
	now := time.Now().Add(time.Minute)
	for range per {
		jobs, err := s.Claim(t.Context(), now, 1000, nil)
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		if len(jobs) != interactions {
			t.Fatalf("Claim = %d jobs, want one per interaction (%d)", len(jobs), interactions)
		}
		for _, j := range jobs {
			got[j.InteractionID] = append(got[j.InteractionID], j.ID)
			complete(t, s, j.ID, nil)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("run order per interaction (-ID order +run order):\n%s", diff)
	}
}

func testClaimMax(t *testing.T, s outbox.Store) {
	now := time.Now()
	var all []string
	for i := range 5 {
		// Enqueued in reverse due order: Claim must go by due time.
		j := enqueue(t, s, outbox.Job{Kind: "k", Dependency: []string{"crm", "blob"}[i%2], NextAttemptAt: now.Add(-time.Duration(i) * time.Second)})
		all = append([]string{j.ID}, all...)
	}
	wantClaim(t, s, now, 2, nil, all[0], all[1])
	wantClaim(t, s, now, 0, nil)
	wantClaim(t, s, now, 10, nil, all[2:]...)
}

func testClaimConcurrent(t *testing.T, s outbox.Store) {
	const n = 60
	for i := range n {
		enqueue(t, s, outbox.Job{Kind: "k", InteractionID: fmt.Sprint(i % 20)})
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 40 {
				jobs, err := s.Claim(t.Context(), time.Now(), 3, nil)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				for _, j := range jobs {
					mu.Lock()
					seen[j.ID]++
					mu.Unlock()
					if err := s.Complete(t.Context(), j.ID, nil); err != nil {
						t.Errorf("Complete(%s): %v", j.ID, err)
					}
				}
			}
		})
	}
	wg.Wait()
	for id, c := range seen {
		if c != 1 {
			t.Errorf("job %s claimed %d times", id, c)
		}
	}
	if len(seen) != n {
		t.Errorf("claimed %d distinct jobs, want %d", len(seen), n)
	}
}

func testClaimPaused(t *testing.T, s outbox.Store) {
	crm := enqueue(t, s, outbox.Job{Kind: "crm.create_record", Dependency: "crm", InteractionID: "a"})
	blob := enqueue(t, s, outbox.Job{Kind: "blob.upload", Dependency: "blob", InteractionID: "b"})
	crmPaused := func(dep string) bool { return dep == "crm" }
	now := time.Now()
	wantClaim(t, s, now, 10, crmPaused, blob.ID)
	wantClaim(t, s, now.Add(time.Hour), 10, crmPaused)
	got := wantClaim(t, s, now, 10, func(string) bool { return false }, crm.ID)
	if got[0].Attempts != 0 {
		t.Errorf("Attempts after a paused period = %d, want 0", got[0].Attempts)
	}
}

func testFail(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	j := enqueue(t, s, outbox.Job{Kind: "k"})
	now := time.Now()
	claimOne(t, s, j.ID)
	fail(t, s, j.ID, outbox.Failure{Err: "crm: 503", RetryAt: now.Add(time.Minute)})
	got := get(t, s, j.ID)
	if got.State != outbox.Pending || got.Attempts != 1 || got.LastError != "crm: 503" || got.FirstFailedAt.IsZero() {
		t.Errorf("after Fail: state %s, attempts %d, last error %q, first failed %v; want pending, 1, crm: 503, set",
			got.State, got.Attempts, got.LastError, got.FirstFailedAt)
	}
	if !got.NextAttemptAt.Equal(now.Add(time.Minute)) {
		t.Errorf("NextAttemptAt = %v, want %v", got.NextAttemptAt, now.Add(time.Minute))
	}
	firstFailed := got.FirstFailedAt
	wantClaim(t, s, now, 10, nil)
	wantClaim(t, s, now.Add(time.Minute), 10, nil, j.ID)

	// Uncounted: paused or interrupted runs spend nothing.
	fail(t, s, j.ID, outbox.Failure{Err: "breaker open", Uncounted: true})
	if got := get(t, s, j.ID); got.Attempts != 1 || !got.FirstFailedAt.Equal(firstFailed) || got.State != outbox.Pending {
		t.Errorf("after uncounted Fail: attempts %d, first failed %v, state %s; want 1, %v, pending", got.Attempts, got.FirstFailedAt, got.State, firstFailed)
	}
	wantClaim(t, s, time.Now(), 10, nil, j.ID) // zero RetryAt is due now

	fail(t, s, j.ID, outbox.Failure{Err: "crm: 400 bad field", Dead: true})
	got = get(t, s, j.ID)
	if got.State != outbox.Dead || got.Attempts != 2 || got.LastError != "crm: 400 bad field" || !got.FirstFailedAt.Equal(firstFailed) {
		t.Errorf("after dead Fail: state %s, attempts %d, last error %q; want dead, 2, crm: 400 bad field", got.State, got.Attempts, got.LastError)
	}
	wantClaim(t, s, now.Add(24*time.Hour), 10, nil)
	if _, err := s.Get(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
}

func testDeadBlocks(t *testing.T, s outbox.Store) {
	rec := enqueue(t, s, outbox.Job{Kind: "crm.create_record", InteractionID: "a"})
	com := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "a"})
	other := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "b"})
	wantClaim(t, s, time.Now(), 10, nil, rec.ID, other.ID)
	fail(t, s, rec.ID, outbox.Failure{Err: "400", Dead: true})
	complete(t, s, other.ID, nil)
	wantClaim(t, s, time.Now().Add(time.Hour), 10, nil) // the comment is held
	st := stats(t, s)
	if st.Blocked != 1 || st.Pending != 1 || st.Dead != 1 {
		t.Errorf("Stats = %+v, want 1 pending, 1 blocked, 1 dead", st)
	}
	if got := get(t, s, com.ID); got.State != outbox.Pending {
		t.Errorf("held job state = %s, want pending", got.State)
	}
}

// testHeld: a held job keeps its reason, spends no attempt, holds later
// jobs of its interaction, is claimed again when due, and leaves held by
// succeeding or by a replay.
func testHeld(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	com := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "a"})
	att := enqueue(t, s, outbox.Job{Kind: "crm.attach_recording", InteractionID: "a"})
	now := time.Now()
	claimOne(t, s, com.ID)
	reason := "record on primary; active endpoint is secondary"
	fail(t, s, com.ID, outbox.Failure{Err: reason, Uncounted: true, Held: true, RetryAt: now.Add(time.Minute)})
	got := get(t, s, com.ID)
	if got.State != outbox.Held || got.Attempts != 0 || got.LastError != reason || !got.FirstFailedAt.IsZero() {
		t.Errorf("after held Fail: state %s, attempts %d, last error %q, first failed %v; want held, 0, %q, zero",
			got.State, got.Attempts, got.LastError, got.FirstFailedAt, reason)
	}
	if held := listAll(t, s, outbox.Filter{State: outbox.Held}); len(held) != 1 || held[0].ID != com.ID {
		t.Errorf("List(state held) = %v, want [%s]", ids(held), com.ID)
	}
	if st := stats(t, s); st.Held != 1 || st.Pending != 1 {
		t.Errorf("Stats = %+v, want 1 held, 1 pending", st)
	}
	wantClaim(t, s, now, 10, nil) // not due; the attachment waits behind it
	wantClaim(t, s, now.Add(time.Minute), 10, nil, com.ID)
	fail(t, s, com.ID, outbox.Failure{Err: reason, Uncounted: true, Held: true})
	r, err := s.Replay(ctx, com.ID)
	if err != nil {
		t.Fatalf("Replay(held): %v", err)
	}
	if r.State != outbox.Pending {
		t.Errorf("Replay(held) state = %s, want pending", r.State)
	}
	wantClaim(t, s, time.Now(), 10, nil, com.ID)
	complete(t, s, com.ID, nil)
	wantClaim(t, s, time.Now(), 10, nil, att.ID)
}

func testRequireInflight(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	j := enqueue(t, s, outbox.Job{Kind: "k"})
	if err := s.Complete(ctx, j.ID, nil); !errors.Is(err, outbox.ErrNotInflight) {
		t.Errorf("Complete(pending) error = %v, want ErrNotInflight", err)
	}
	if err := s.Fail(ctx, j.ID, outbox.Failure{Err: "x"}); !errors.Is(err, outbox.ErrNotInflight) {
		t.Errorf("Fail(pending) error = %v, want ErrNotInflight", err)
	}
	claimOne(t, s, j.ID)
	complete(t, s, j.ID, nil)
	if err := s.Complete(ctx, j.ID, nil); !errors.Is(err, outbox.ErrNotInflight) {
		t.Errorf("Complete(done) error = %v, want ErrNotInflight", err)
	}
	const unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	if err := s.Complete(ctx, unknown, nil); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Complete(unknown) error = %v, want ErrNotFound", err)
	}
	if err := s.Fail(ctx, unknown, outbox.Failure{}); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Fail(unknown) error = %v, want ErrNotFound", err)
	}
	if got := get(t, s, j.ID); got.State != outbox.Done || got.Attempts != 1 {
		t.Errorf("job after refused calls: %s, attempts %d; want done, 1", got.State, got.Attempts)
	}
}

func testReplay(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	rec := enqueue(t, s, outbox.Job{Kind: "crm.create_record", InteractionID: "a"})
	com := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "a"})
	claimOne(t, s, rec.ID)
	if _, err := s.Replay(ctx, rec.ID); !errors.Is(err, outbox.ErrInflight) {
		t.Errorf("Replay(inflight) error = %v, want ErrInflight", err)
	}
	fail(t, s, rec.ID, outbox.Failure{Err: "bad", Dead: true})
	r, err := s.Replay(ctx, rec.ID)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if r.State != outbox.Pending || r.Attempts != 0 || !r.FirstFailedAt.IsZero() || r.NextAttemptAt.After(time.Now()) {
		t.Errorf("replayed job: %s, attempts %d, first failed %v, next %v; want pending, 0, zero, now",
			r.State, r.Attempts, r.FirstFailedAt, r.NextAttemptAt)
	}
	if diff := cmp.Diff(r, get(t, s, rec.ID)); diff != "" {
		t.Errorf("Replay result differs from Get (-replay +get):\n%s", diff)
	}
	wantClaim(t, s, time.Now(), 10, nil, rec.ID)
	complete(t, s, rec.ID, nil)
	wantClaim(t, s, time.Now(), 10, nil, com.ID)
	if _, err := s.Replay(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Replay(unknown) error = %v, want ErrNotFound", err)
	}
}

func testReplayDone(t *testing.T, s outbox.Store) {
	rec := enqueue(t, s, outbox.Job{Kind: "crm.create_record", InteractionID: "a"})
	com := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "a"})
	claimOne(t, s, rec.ID)
	complete(t, s, rec.ID, nil)
	// com is now the claimable head; replaying rec puts rec in front.
	if _, err := s.Replay(t.Context(), rec.ID); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, time.Now(), 10, nil, rec.ID)
	wantClaim(t, s, time.Now(), 10, nil)
	complete(t, s, rec.ID, nil)
	wantClaim(t, s, time.Now(), 10, nil, com.ID)
	// Replaying a done job while a later one is inflight: it waits.
	if _, err := s.Replay(t.Context(), rec.ID); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, time.Now(), 10, nil)
	complete(t, s, com.ID, nil)
	wantClaim(t, s, time.Now(), 10, nil, rec.ID)
}

func testPurge(t *testing.T, s outbox.Store) {
	ctx := t.Context()
	old := enqueue(t, s, outbox.Job{Kind: "k", IdempotencyKey: "k1"})
	keep := enqueue(t, s, outbox.Job{Kind: "k"})
	claimOne(t, s, old.ID)
	complete(t, s, old.ID, nil)
	n, err := s.Purge(ctx, outbox.Done, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Errorf("Purge(done, an hour ago) = %d, %v, want 0", n, err)
	}
	n, err = s.Purge(ctx, outbox.Done, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Errorf("Purge(done, now) = %d, %v, want 1", n, err)
	}
	if _, err := s.Get(ctx, old.ID); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Get(purged) error = %v, want ErrNotFound", err)
	}
	if get(t, s, keep.ID).State != outbox.Pending {
		t.Errorf("pending job touched by Purge")
	}
	if _, created, err := s.Enqueue(ctx, outbox.Job{Kind: "k", IdempotencyKey: "k1"}); err != nil || !created {
		t.Errorf("Enqueue with a purged key = created %v, %v, want a new job", created, err)
	}
	for _, st := range []outbox.State{outbox.Pending, outbox.Inflight, "bogus"} {
		if _, err := s.Purge(ctx, st, time.Now()); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Purge(%s) error = %v, want ErrInvalid", st, err)
		}
	}
}

func testPurgeDead(t *testing.T, s outbox.Store) {
	rec := enqueue(t, s, outbox.Job{Kind: "crm.create_record", InteractionID: "a"})
	com := enqueue(t, s, outbox.Job{Kind: "crm.add_comment", InteractionID: "a"})
	claimOne(t, s, rec.ID)
	fail(t, s, rec.ID, outbox.Failure{Err: "bad", Dead: true})
	n, err := s.Purge(t.Context(), outbox.Dead, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("Purge(dead) = %d, %v, want 1", n, err)
	}
	wantClaim(t, s, time.Now(), 10, nil, com.ID)
}

func testStats(t *testing.T, s outbox.Store) {
	if st := stats(t, s); st != (outbox.Stats{}) {
		t.Errorf("Stats of an empty store = %+v", st)
	}
	first := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	b := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "b"})
	c := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "c"})
	d := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "d"})
	wantClaim(t, s, time.Now(), 10, nil, first.ID, b.ID, c.ID, d.ID)
	fail(t, s, first.ID, outbox.Failure{Err: "x", Dead: true})
	complete(t, s, b.ID, nil)
	fail(t, s, d.ID, outbox.Failure{Err: "x", RetryAt: time.Now().Add(time.Hour)})
	st := stats(t, s)
	// The oldest pending job is the second of interaction a.
	a2 := listAll(t, s, outbox.Filter{Interaction: "a"})[1]
	want := outbox.Stats{Pending: 3, Inflight: 1, Dead: 1, Done: 1, Blocked: 2, OldestPending: a2.CreatedAt}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func testRecover(t *testing.T, s outbox.Store) {
	a := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	a2 := enqueue(t, s, outbox.Job{Kind: "k", InteractionID: "a"})
	b := enqueue(t, s, outbox.Job{Kind: "k"})
	wantClaim(t, s, time.Now(), 10, nil, a.ID, b.ID)
	n, err := s.RecoverInflight(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("RecoverInflight = %d, %v, want 2", n, err)
	}
	for _, id := range []string{a.ID, b.ID} {
		if got := get(t, s, id); got.State != outbox.Pending || got.Attempts != 0 {
			t.Errorf("recovered %s: %s, attempts %d; want pending, 0", id, got.State, got.Attempts)
		}
	}
	wantClaim(t, s, time.Now(), 10, nil, a.ID, b.ID)
	complete(t, s, a.ID, nil)
	wantClaim(t, s, time.Now(), 10, nil, a2.ID)
	if n, err := s.RecoverInflight(t.Context()); err != nil || n != 2 {
		t.Errorf("second RecoverInflight = %d, %v, want 2", n, err)
	}
}

// CheckInvariants verifies, through the Store contract, what every backend
// must keep true (each job listed once, in the state Get reports; no
// shared idempotency key; at most one inflight job per interaction; Stats
// agreeing with List), then the backend's own Check when it is a Checker.
// It reports each violation with t.Errorf. Call it while nothing writes to
// s, for example in t.Cleanup after the dispatcher has stopped and before
// the store closes.
func CheckInvariants(t *testing.T, s outbox.Store) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context()) // t.Context is done during Cleanup
	var all []outbox.Job
	cursor := ""
	for {
		jobs, next, err := s.List(ctx, outbox.Filter{Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Errorf("invariants: List: %v", err)
			return
		}
		all = append(all, jobs...)
		if next == "" {
			break
		}
		cursor = next
	}
	var want outbox.Stats
	inflight := map[string]int{}
	heldBy := map[string]bool{}
	seen := map[string]bool{}
	keys := map[string]string{}
	for _, j := range all {
		if seen[j.ID] {
			t.Errorf("invariants: job %s listed twice", j.ID)
		}
		seen[j.ID] = true
		if j.IdempotencyKey != "" {
			if other, ok := keys[j.IdempotencyKey]; ok {
				t.Errorf("invariants: jobs %s and %s share idempotency key %q", other, j.ID, j.IdempotencyKey)
			}
			keys[j.IdempotencyKey] = j.ID
		}
		switch j.State {
		case outbox.Pending:
			want.Pending++
			if want.OldestPending.IsZero() {
				want.OldestPending = j.CreatedAt
			}
			if j.InteractionID != "" && heldBy[j.InteractionID] {
				want.Blocked++
			}
		case outbox.Inflight:
			want.Inflight++
			if j.InteractionID != "" {
				inflight[j.InteractionID]++
			}
		case outbox.Done:
			want.Done++
		case outbox.Dead:
			want.Dead++
			heldBy[j.InteractionID] = true
		case outbox.Held:
			want.Held++
		default:
			t.Errorf("invariants: job %s in state %q", j.ID, j.State)
		}
		if got, err := s.Get(ctx, j.ID); err != nil || got.State != j.State {
			t.Errorf("invariants: Get(%s) = %s, %v; List says %s", j.ID, got.State, err, j.State)
		}
	}
	for id, n := range inflight {
		if n > 1 {
			t.Errorf("invariants: interaction %q has %d inflight jobs", id, n)
		}
	}
	if got, err := s.Stats(ctx); err != nil {
		t.Errorf("invariants: Stats: %v", err)
	} else if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invariants: Stats disagree with List (-list +stats):\n%s", diff)
	}
	if c, ok := s.(Checker); ok {
		if err := c.Check(); err != nil {
			t.Errorf("invariants: Check:\n%v", err)
		}
	}
}

// Helpers.

func enqueue(t *testing.T, s outbox.Store, j outbox.Job) outbox.Job {
	t.Helper()
	got, created, err := s.Enqueue(t.Context(), j)
	if err != nil || !created {
		t.Fatalf("Enqueue(%s) = created %v, %v", j.Kind, created, err)
	}
	return got
}

func get(t *testing.T, s outbox.Store, id string) outbox.Job {
	t.Helper()
	j, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return j
}

func complete(t *testing.T, s outbox.Store, id string, result json.RawMessage) {
	t.Helper()
	if err := s.Complete(t.Context(), id, result); err != nil {
		t.Fatalf("Complete(%s): %v", id, err)
	}
}

func fail(t *testing.T, s outbox.Store, id string, f outbox.Failure) {
	t.Helper()
	if err := s.Fail(t.Context(), id, f); err != nil {
		t.Fatalf("Fail(%s): %v", id, err)
	}
}

func stats(t *testing.T, s outbox.Store) outbox.Stats {
	t.Helper()
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// claimOne claims everything due now, wants id among it, and puts the
// other jobs back, unchanged but for UpdatedAt, with an uncounted Fail.
func claimOne(t *testing.T, s outbox.Store, id string) {
	t.Helper()
	jobs, err := s.Claim(t.Context(), time.Now(), 1000, nil)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	found := false
	for _, j := range jobs {
		if j.ID == id {
			found = true
			continue
		}
		fail(t, s, j.ID, outbox.Failure{Uncounted: true, RetryAt: j.NextAttemptAt})
	}
	if !found {
		t.Fatalf("Claim = %v, want %s among them", ids(jobs), id)
	}
}

// wantClaim claims at now and wants exactly the ids, in order.
func wantClaim(t *testing.T, s outbox.Store, now time.Time, max int, paused func(string) bool, want ...string) []outbox.Job {
	t.Helper()
	jobs, err := s.Claim(t.Context(), now, max, paused)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if diff := cmp.Diff(want, ids(jobs), cmp.Transformer("nilEmpty", func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	})); diff != "" {
		t.Fatalf("Claim(max %d) (-want +got):\n%s", max, diff)
	}
	for _, j := range jobs {
		if j.State != outbox.Inflight {
			t.Errorf("claimed job %s is %s, want inflight", j.ID, j.State)
		}
	}
	return jobs
}

func listAll(t *testing.T, s outbox.Store, f outbox.Filter) []outbox.Job {
	t.Helper()
	var all []outbox.Job
	for {
		jobs, next, err := s.List(t.Context(), f)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		all = append(all, jobs...)
		if next == "" {
			return all
		}
		f.Cursor = next
	}
}

func ids(jobs []outbox.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}
