package interactions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
	"github.com/holdline/holdline/outbox/storetest"
)

// env is a Service over a real bolt store and dispatcher, writing through
// the CRM dependency's real policy chain to the CRM simulator.
type env struct {
	svc   *interactions.Service
	store *outbox.BoltStore
	d     *outbox.Dispatcher
	crm   *sim.CRM
	dep   *resilience.Dependency
	// reject, when set, answers every CRM write with this status (a
	// validation rule the CRM enforces until someone fixes it).
	reject atomic.Int32
	// holds counts the times the dispatcher found the crm dependency
	// paused (its breaker open) and held a job back.
	holds atomic.Int64
	// gate, when set, holds every CRM write until it is closed (or the
	// client gives up): a CRM that takes writes and does not answer.
	gate atomic.Pointer[chan struct{}]
}

// start runs the env with a write budget; tune, if any, changes the config
// first.
func start(t *testing.T, budget time.Duration, tune ...func(*config.Config)) *env {
	t.Helper()
	e := &env{crm: sim.NewCRM(sim.CRMOptions{Empty: true})}
	h := e.crm.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := e.gate.Load(); g != nil && r.Method == http.MethodPost {
			select {
			case <-*g:
			case <-r.Context().Done():
				return
			}
		}
		if code := e.reject.Load(); code != 0 && r.Method == http.MethodPost {
			http.Error(w, `{"error":"subject rejected by a validation rule"}`, int(code))
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	cfg := config.Default()
	cfg.Dependencies.CRM.Kind = "generic"
	cfg.Dependencies.CRM.Endpoints.Primary = srv.URL
	cfg.Dependencies.CRM.Breaker.MinRequests = 4
	cfg.Dependencies.CRM.Breaker.OpenFor = config.Duration(200 * time.Millisecond)
	for _, f := range tune {
		f(cfg)
	}
	deps, err := resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	e.dep = deps.Get("crm")
	client, err := crm.New(cfg.Dependencies.CRM, e.dep.HTTPClient(), e.dep.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	e.store, err = outbox.OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	records, err := interactions.NewRecords(e.store, interactions.Endpoints{
		Clients: map[string]crm.Client{interactions.Primary: client}, Active: e.dep.ActiveEndpoint}, e.dep)
	if err != nil {
		t.Fatal(err)
	}
	e.d, err = outbox.NewDispatcher(e.store, interactions.Handlers(records), nil, outbox.DispatcherConfig{
		Backoff: config.Backoff{Initial: config.Duration(20 * time.Millisecond), Max: config.Duration(100 * time.Millisecond),
			MaxElapsed: config.Duration(time.Hour)},
		PollInterval: 20 * time.Millisecond,
		PauseDelay:   20 * time.Millisecond,
		Paused: func(string) bool {
			if e.dep.BreakerAllows() {
				return false
			}
			e.holds.Add(1)
			return true
		},
		OnFinish: func(j outbox.Job) { e.svc.Finished(j) },
		OnRetry:  func(j outbox.Job) { e.svc.Retried(j) },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = interactions.New(e.d, e.store, e.dep, interactions.Options{WriteBudget: budget})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		storetest.CheckInvariants(t, e.store)
		e.store.Close()
	})
	return e
}

// waitJob waits until job id is in state want.
func (e *env) waitJob(t *testing.T, id string, want outbox.State) outbox.Job {
	t.Helper()
	return e.waitJobUntil(t, id, string(want), func(j outbox.Job) bool { return j.State == want })
}

// waitJobUntil polls job id until cond holds, and fails the test naming
// what it waited for after 10s: a hang guard for work that goes through
// real sockets (the CRM simulator), never a claim about speed.
func (e *env) waitJobUntil(t *testing.T, id, what string, cond func(outbox.Job) bool) outbox.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		j, err := e.store.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s) is %s after %d attempts and 10s, want %s; last error %q", id, j.Kind, j.State, j.Attempts, what, j.LastError)
		}
		<-tick.C
	}
}

func (e *env) record(t *testing.T, id string) sim.CRMRecord {
	t.Helper()
	r, ok := e.crm.Record(id)
	if !ok {
		t.Fatalf("the CRM has no record %q; it has %+v", id, e.crm.Records())
	}
	return r
}

var rec = crm.NewRecord{Subject: "Billing question", Description: "caller disputes invoice 42", Channel: "voice"}

func TestHealthyCRMAnswersCreated(t *testing.T) {
	e := start(t, 5*time.Second)
	out, err := e.svc.CreateRecord(t.Context(), "call-1", "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != interactions.Created || out.RecordID == "" || out.JobID == "" {
		t.Fatalf("CreateRecord = %+v, want created with a record id and job id", out)
	}
	c, err := e.svc.AddComment(t.Context(), "call-1", "", crm.Comment{Body: "promised a callback", Author: "agent-7"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != interactions.Created || c.RecordID != out.RecordID || c.CommentID == "" {
		t.Fatalf("AddComment = %+v, want created on record %s", c, out.RecordID)
	}
	r := e.record(t, out.RecordID)
	if r.InteractionID != "call-1" || len(r.Comments) != 1 || r.Comments[0].Body != "promised a callback" {
		t.Errorf("CRM record = %+v", r)
	}
	v, err := e.svc.Get(t.Context(), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.RecordID != out.RecordID || len(v.Jobs) != 2 || v.Jobs[0].State != outbox.Done || v.Jobs[1].State != outbox.Done {
		t.Errorf("Get = %+v", v)
	}
	if _, err := e.svc.Get(t.Context(), "call-unknown"); !errors.Is(err, interactions.ErrUnknown) || holdline.ErrorCode(err) != holdline.ENOTFOUND {
		t.Errorf("Get(unknown) error = %v, want not_found wrapping ErrUnknown", err)
	}
}

func TestCRMDownQueuesThenDeliversInOrder(t *testing.T) {
	e := start(t, 100*time.Millisecond)
	if err := e.crm.SetMode(sim.CRMMode{Kind: sim.Mode503, Scope: sim.ScopeWrite}); err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.CreateRecord(t.Context(), "call-2", "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != interactions.Queued || out.JobID == "" {
		t.Fatalf("CreateRecord with the CRM down = %+v, want queued with a job id", out)
	}
	c, err := e.svc.AddComment(t.Context(), "call-2", "", crm.Comment{Body: "first"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.svc.AddComment(t.Context(), "call-2", "", crm.Comment{Body: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != interactions.Queued || c2.Status != interactions.Queued {
		t.Fatalf("AddComment with the CRM down = %+v, %+v, want queued", c, c2)
	}
	e.waitJobUntil(t, out.JobID, "2 failed attempts", func(j outbox.Job) bool { return j.Attempts >= 2 })
	if n := len(e.crm.Records()); n != 0 {
		t.Fatalf("the CRM has %d records while failing writes", n)
	}
	if err := e.crm.SetMode(sim.CRMMode{Kind: sim.ModeOK}); err != nil {
		t.Fatal(err)
	}
	j := e.waitJob(t, c2.JobID, outbox.Done)
	v, err := e.svc.Get(t.Context(), "call-2")
	if err != nil {
		t.Fatal(err)
	}
	r := e.record(t, v.RecordID)
	if len(r.Comments) != 2 || r.Comments[0].Body != "first" || r.Comments[1].Body != "second" {
		t.Errorf("comments = %+v, want first then second", r.Comments)
	}
	if !r.Comments[0].CreatedAt.After(r.CreatedAt) && !r.Comments[0].CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("comment landed before its record")
	}
	if len(e.crm.Records()) != 1 {
		t.Errorf("the CRM has %d records, want 1", len(e.crm.Records()))
	}
	// A repeat of the queued write now answers with the stored ids.
	again, err := e.svc.AddComment(t.Context(), "call-2", "", crm.Comment{Body: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != interactions.Created || again.JobID != j.ID || again.CommentID == "" {
		t.Errorf("repeat after delivery = %+v, want created from job %s", again, j.ID)
	}
}

func TestPermanentErrorGoesDeadAndReplays(t *testing.T) {
	e := start(t, 2*time.Second)
	e.reject.Store(http.StatusUnprocessableEntity)
	out, err := e.svc.CreateRecord(t.Context(), "call-3", "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != interactions.Queued {
		t.Fatalf("CreateRecord with a 422 = %+v, want queued (dead, waiting for a replay)", out)
	}
	dead := e.waitJob(t, out.JobID, outbox.Dead)
	if dead.Attempts != 1 {
		t.Errorf("dead after %d attempts, want 1 (a 4xx is not retried)", dead.Attempts)
	}
	c, err := e.svc.AddComment(t.Context(), "call-3", "", crm.Comment{Body: "held behind the dead record"})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := e.store.Stats(t.Context()); st.Blocked != 1 {
		t.Errorf("Stats.Blocked = %d, want 1", st.Blocked)
	}
	e.reject.Store(0) // the validation rule is fixed
	if _, err := e.d.Replay(t.Context(), out.JobID); err != nil {
		t.Fatal(err)
	}
	e.waitJob(t, c.JobID, outbox.Done)
	v, _ := e.svc.Get(t.Context(), "call-3")
	r := e.record(t, v.RecordID)
	if len(r.Comments) != 1 || r.Comments[0].Body != "held behind the dead record" {
		t.Errorf("comments = %+v", r.Comments)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	e := start(t, 5*time.Second)
	first, err := e.svc.CreateRecord(t.Context(), "call-4", "k-1", rec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.CreateRecord(t.Context(), "call-4", "k-1", rec)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("repeat = %+v, want the first answer %+v", again, first)
	}
	other := rec
	other.Subject = "Something else"
	if _, err := e.svc.CreateRecord(t.Context(), "call-4", "k-1", other); !errors.Is(err, interactions.ErrConflict) || holdline.ErrorCode(err) != holdline.ECONFLICT || holdline.ErrorField(err) != "Idempotency-Key" {
		t.Errorf("same key, other body: error = %v, want a conflict on Idempotency-Key wrapping ErrConflict", err)
	}
	if _, err := e.svc.CreateRecord(t.Context(), "call-5", "k-1", rec); !errors.Is(err, interactions.ErrConflict) {
		t.Errorf("same key, other interaction: error = %v, want ErrConflict", err)
	}
	// A second, different record write appends to the interaction's record.
	app, err := e.svc.CreateRecord(t.Context(), "call-4", "", other)
	if err != nil {
		t.Fatal(err)
	}
	if app.Status != interactions.Created || app.RecordID != first.RecordID || app.JobID == first.JobID {
		t.Errorf("second record write = %+v, want created on record %s by a new job", app, first.RecordID)
	}
	r := e.record(t, first.RecordID)
	if len(e.crm.Records()) != 1 || len(r.Comments) != 1 || r.Comments[0].Body != "Something else\n\ncaller disputes invoice 42" {
		t.Errorf("CRM = %d records, comments %+v; want one record with the append as a comment", len(e.crm.Records()), r.Comments)
	}
	if _, err := e.svc.AddComment(t.Context(), "call-6", "", crm.Comment{Body: "no record yet"}); !errors.Is(err, interactions.ErrNoRecord) || holdline.ErrorCode(err) != holdline.ECONFLICT {
		t.Errorf("comment before any record: error = %v, want a conflict wrapping ErrNoRecord", err)
	}
	jobs, _, _ := e.store.List(t.Context(), outbox.Filter{})
	if len(jobs) != 2 {
		t.Errorf("the outbox has %d jobs, want 2 (repeats and conflicts make none)", len(jobs))
	}
}

func TestOpenBreakerAnswersAtOnce(t *testing.T) {
	// An hour's write budget: a write that waited for its job instead of
	// answering at once would hang, which the guard below turns into a
	// failure. The guard is no claim about speed.
	e := start(t, time.Hour)
	if err := e.dep.SetBreakerMode(resilience.BreakerOpen, "test", "drill"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out interactions.Outcome
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := e.svc.CreateRecord(t.Context(), "call-7", "", rec)
		res <- result{out, err}
	}()
	var out interactions.Outcome
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatal(r.err)
		}
		out = r.out
	case <-time.After(30 * time.Second):
		t.Fatal("CreateRecord with the breaker open still waits after 30s, want queued at once (the budget is 1h)")
	}
	if out.Status != interactions.Queued {
		t.Fatalf("CreateRecord with the breaker open = %+v, want queued", out)
	}
	// The dispatcher looks at the job again and again and holds it back.
	before := e.holds.Load()
	e.waitJobUntil(t, out.JobID, "held back 5 times", func(outbox.Job) bool { return e.holds.Load() >= before+5 })
	if j, _ := e.store.Get(t.Context(), out.JobID); j.Attempts != 0 || j.State != outbox.Pending {
		t.Errorf("job while paused = %s after %d attempts, want pending with none spent", j.State, j.Attempts)
	}
	if err := e.dep.SetBreakerMode(resilience.BreakerAuto, "test", "drill over"); err != nil {
		t.Fatal(err)
	}
	e.waitJob(t, out.JobID, outbox.Done)
}

// atOnce runs a write and fails the test if it has not answered after 30s:
// with a budget of a minute or more, a write that waited for its job
// instead of answering at once would still be waiting. The guard is a
// hang guard, no claim about speed.
func atOnce(t *testing.T, what string, write func() (interactions.Outcome, error)) interactions.Outcome {
	t.Helper()
	type result struct {
		out interactions.Outcome
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := write()
		res <- result{out, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r.out
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still waits after 30s, want an answer at once (the budget is longer)", what)
	}
	panic("unreachable")
}

// neverOpen keeps the CRM breaker closed whatever fails, so that only the
// signal under test can answer a write at once.
func neverOpen(c *config.Config) { c.Dependencies.CRM.Breaker.MinRequests = 1 << 20 }

func TestBacklogAheadAnswersQueuedAtOnce(t *testing.T) {
	// A CRM that holds every write, with a timeout longer than the test:
	// the workers stay busy with the backlog until the gate opens.
	e := start(t, time.Minute, neverOpen, func(c *config.Config) {
		c.Dependencies.CRM.Timeout = config.Duration(10 * time.Minute)
	})
	gate := make(chan struct{})
	e.gate.Store(&gate)
	// Open the gate before the env stops, should the test fail first: the
	// CRM's own timeout would otherwise hold its server's Close.
	open := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(open)
	// The backlog an outage leaves: record writes of other interactions,
	// due for an hour, more than the 8 workers can take at once.
	var backlog []string
	for i := range 12 {
		id := fmt.Sprintf("backlog-%d", i)
		j, err := timeline.CreateRecordJob(id, id, timeline.RecordPayload{Record: crm.NewRecord{InteractionID: id, Subject: "from the outage"}})
		if err != nil {
			t.Fatal(err)
		}
		j.NextAttemptAt = time.Now().Add(-time.Hour)
		got, _, err := e.d.Enqueue(t.Context(), j)
		if err != nil {
			t.Fatal(err)
		}
		backlog = append(backlog, got.ID)
	}
	// Every worker holds a backlog job at the CRM; the dispatcher knows it
	// is an hour behind.
	guard := time.Now().Add(10 * time.Second)
	for e.d.Lag() < time.Hour {
		if time.Now().After(guard) {
			t.Fatalf("dispatcher lag = %v after 10s, want at least the backlog's hour", e.d.Lag())
		}
		time.Sleep(5 * time.Millisecond)
	}

	out := atOnce(t, "CreateRecord behind the backlog", func() (interactions.Outcome, error) {
		return e.svc.CreateRecord(t.Context(), "call-new", "", rec)
	})
	if out.Status != interactions.Queued || out.JobID == "" {
		t.Fatalf("CreateRecord behind the backlog = %+v, want queued with a job id", out)
	}
	// Answered while the backlog was still there: nothing has reached the
	// CRM yet.
	for _, id := range append(backlog, out.JobID) {
		if j, _ := e.store.Get(t.Context(), id); j.State == outbox.Done {
			t.Errorf("job %s is done while the CRM holds every write", id)
		}
	}
	if n := len(e.crm.Records()); n != 0 {
		t.Fatalf("the CRM has %d records while holding every write", n)
	}

	open()
	done := e.waitJob(t, out.JobID, outbox.Done)
	for _, id := range backlog {
		e.waitJob(t, id, outbox.Done)
	}
	// The next claim finds nothing due: the dispatcher has caught up.
	guard = time.Now().Add(10 * time.Second)
	for e.d.Lag() != 0 {
		if time.Now().After(guard) {
			t.Fatalf("dispatcher lag = %v 10s after the backlog is done, want 0", e.d.Lag())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Exactly once: one record per interaction, and the queued write's
	// repeat answers with its record.
	if n := len(e.crm.Records()); n != len(backlog)+1 {
		t.Errorf("the CRM has %d records, want %d", n, len(backlog)+1)
	}
	again, err := e.svc.CreateRecord(t.Context(), "call-new", "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != interactions.Created || again.JobID != done.ID || again.RecordID == "" {
		t.Errorf("repeat after delivery = %+v, want created from job %s", again, done.ID)
	}
}

func TestFailingCRMAnswersQueuedAfterOneAttempt(t *testing.T) {
	// An hour's budget and a breaker that never opens: the write answers
	// once its job's first run fails, not when a retry succeeds or the
	// budget ends.
	e := start(t, time.Hour, neverOpen)
	if err := e.crm.SetMode(sim.CRMMode{Kind: sim.Mode503, Scope: sim.ScopeWrite}); err != nil {
		t.Fatal(err)
	}
	out := atOnce(t, "CreateRecord with the CRM answering 503", func() (interactions.Outcome, error) {
		return e.svc.CreateRecord(t.Context(), "call-8", "", rec)
	})
	if out.Status != interactions.Queued || out.JobID == "" {
		t.Fatalf("CreateRecord with the CRM answering 503 = %+v, want queued", out)
	}
	if j, _ := e.store.Get(t.Context(), out.JobID); j.Attempts == 0 || j.State == outbox.Done {
		t.Errorf("job at the answer = %s after %d attempts, want tried once at least and not done", j.State, j.Attempts)
	}
	if !e.dep.BreakerAllows() {
		t.Fatal("the breaker opened: the test proves nothing about the failed attempt")
	}

	// A comment behind the failing record job answers at once too: it
	// cannot run before the record job succeeds.
	c := atOnce(t, "AddComment behind a failing record job", func() (interactions.Outcome, error) {
		return e.svc.AddComment(t.Context(), "call-8", "", crm.Comment{Body: "behind the record"})
	})
	if c.Status != interactions.Queued || c.JobID == "" {
		t.Fatalf("AddComment behind a failing record job = %+v, want queued", c)
	}

	if err := e.crm.SetMode(sim.CRMMode{Kind: sim.ModeOK}); err != nil {
		t.Fatal(err)
	}
	e.waitJob(t, c.JobID, outbox.Done)
	v, err := e.svc.Get(t.Context(), "call-8")
	if err != nil {
		t.Fatal(err)
	}
	r := e.record(t, v.RecordID)
	if len(e.crm.Records()) != 1 || len(r.Comments) != 1 || r.Comments[0].Body != "behind the record" {
		t.Errorf("CRM = %d records, comments %+v; want one record with the comment once", len(e.crm.Records()), r.Comments)
	}
}
