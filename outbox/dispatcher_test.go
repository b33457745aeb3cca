package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/outbox"
)

// harness is a Dispatcher running on a bolt store in a temporary
// directory, stopped in t.Cleanup.
type harness struct {
	store *outbox.BoltStore
	d     *outbox.Dispatcher
	reg   *prometheus.Registry
}

func start(t *testing.T, store *outbox.BoltStore, handlers map[string]outbox.Handler, cfg outbox.DispatcherConfig) *harness {
	t.Helper()
	if store == nil {
		store = openBolt(t, filepath.Join(t.TempDir(), "outbox.db"))
	}
	h := &harness{store: store, reg: prometheus.NewRegistry()}
	cfg.Registerer = h.reg
	d, err := outbox.NewDispatcher(store, handlers, nil, cfg)
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := store.Check(); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
	return h
}

func (h *harness) enqueue(t *testing.T, j outbox.Job) outbox.Job {
	t.Helper()
	got, created, err := h.d.Enqueue(t.Context(), j)
	if err != nil || !created {
		t.Fatalf("Enqueue(%s) = created %v, %v", j.Kind, created, err)
	}
	return got
}

func (h *harness) get(t *testing.T, id string) outbox.Job {
	t.Helper()
	j, err := h.store.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return j
}

// metric returns the value of a counter or gauge with the given labels.
func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if 2*i+1 >= len(labels) || lp.GetName() != labels[2*i] || lp.GetValue() != labels[2*i+1] {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// waitState sleeps in the bubble until job id reaches state, or fails
// after limit of fake time.
func (h *harness) waitState(t *testing.T, id string, state outbox.State, limit time.Duration) outbox.Job {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		synctest.Wait()
		j := h.get(t, id)
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s) is %s after %v, want %s (last error %q)", id, j.Kind, j.State, limit, state, j.LastError)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDispatcherOrderPerInteraction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		ran := map[string][]int{}
		active := map[string]bool{}
		running, maxRunning := 0, 0
		handler := func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
			var seq int
			if err := json.Unmarshal(j.Payload, &seq); err != nil {
				return nil, outbox.Permanent(err)
			}
			mu.Lock()
			if active[j.InteractionID] {
				t.Errorf("interaction %s: job %d started while another ran", j.InteractionID, seq)
			}
			active[j.InteractionID] = true
			ran[j.InteractionID] = append(ran[j.InteractionID], seq)
			running++
			maxRunning = max(maxRunning, running)
			mu.Unlock()
			time.Sleep(time.Duration(seq%3+1) * 10 * time.Millisecond)
			mu.Lock()
			active[j.InteractionID] = false
			running--
			mu.Unlock()
			if seq == 1 && j.Attempts == 0 {
				return nil, errors.New("first try of job 1 fails") // retried, still in order
			}
			return nil, nil
		}
		h := start(t, nil, map[string]outbox.Handler{"k": handler}, outbox.DispatcherConfig{
			Workers: 4, PollInterval: 100 * time.Millisecond,
			Backoff: config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(time.Second)},
		})
		const interactions, perInteraction = 10, 5
		var last []string
		for seq := range perInteraction {
			for i := range interactions {
				j := h.enqueue(t, outbox.Job{Kind: "k", InteractionID: fmt.Sprint("call-", i), Payload: json.RawMessage(fmt.Sprint(seq))})
				if seq == perInteraction-1 {
					last = append(last, j.ID)
				}
			}
		}
		for _, id := range last {
			h.waitState(t, id, outbox.Done, time.Minute)
		}
		mu.Lock()
		defer mu.Unlock()
		want := []int{0, 1, 1, 2, 3, 4} // job 1 runs twice
		for i := range interactions {
			if diff := cmp.Diff(want, ran[fmt.Sprint("call-", i)]); diff != "" {
				t.Errorf("call-%d ran (-want +got):\n%s", i, diff)
			}
		}
		if maxRunning != 4 {
			t.Errorf("at most %d jobs ran at once, want 4 (the worker limit)", maxRunning)
		}
		if got := h.metric(t, "holdline_outbox_completed_total", "kind", "k"); got != interactions*perInteraction {
			t.Errorf("completed_total = %v, want %d", got, interactions*perInteraction)
		}
		if got := h.metric(t, "holdline_outbox_enqueued_total", "kind", "k"); got != interactions*perInteraction {
			t.Errorf("enqueued_total = %v, want %d", got, interactions*perInteraction)
		}
	})
}

func TestDispatcherBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Time
		handler := func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
			calls = append(calls, time.Now())
			if len(calls) <= 4 {
				return nil, errors.New("crm: 503")
			}
			return json.RawMessage(`{"ok":true}`), nil
		}
		h := start(t, nil, map[string]outbox.Handler{"k": handler}, outbox.DispatcherConfig{
			PollInterval: 10 * time.Millisecond,
			Backoff:      config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(2 * time.Second), MaxElapsed: config.Duration(time.Hour)},
		})
		j := h.enqueue(t, outbox.Job{Kind: "k"})
		got := h.waitState(t, j.ID, outbox.Done, time.Minute)
		if got.Attempts != 5 || got.LastError != "" || string(got.Result) != `{"ok":true}` {
			t.Errorf("job = attempts %d, last error %q, result %s; want 5, no last error once done, {\"ok\":true}", got.Attempts, got.LastError, got.Result)
		}
		// Intervals 1s, 1.5s, 2s (max), 2s, each jittered ±50%, plus up to
		// one poll interval.
		for i, want := range []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second, 2 * time.Second} {
			gap := calls[i+1].Sub(calls[i])
			if gap < want/2 || gap > want*3/2+20*time.Millisecond {
				t.Errorf("delay before attempt %d = %v, want %v ±50%%", i+2, gap, want)
			}
		}
		if got := h.metric(t, "holdline_outbox_failures_total", "kind", "k"); got != 4 {
			t.Errorf("failures_total = %v, want 4", got)
		}
	})
}

func TestDispatcherRetryBudgetSpentGoesDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		h := start(t, nil, map[string]outbox.Handler{
			"crm.create_record": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				calls++
				return nil, errors.New("crm: timeout")
			},
			"crm.add_comment": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				t.Errorf("comment ran although its record is dead")
				return nil, nil
			},
		}, outbox.DispatcherConfig{
			PollInterval:  10 * time.Millisecond,
			Backoff:       config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(2 * time.Second), MaxElapsed: config.Duration(10 * time.Second)},
			StatsInterval: time.Second,
		})
		rec := h.enqueue(t, outbox.Job{Kind: "crm.create_record", InteractionID: "call-1"})
		com := h.enqueue(t, outbox.Job{Kind: "crm.add_comment", InteractionID: "call-1"})
		got := h.waitState(t, rec.ID, outbox.Dead, time.Minute)
		// 10s of budget with 1-2s (±50%) delays: between 5 and 20 tries.
		if got.Attempts != calls || calls < 4 || calls > 20 {
			t.Errorf("dead after %d attempts (%d calls), want 4-20", got.Attempts, calls)
		}
		if elapsed := got.UpdatedAt.Sub(got.FirstFailedAt); elapsed > 10*time.Second {
			t.Errorf("last attempt %v after the first failure, budget 10s", elapsed)
		}
		time.Sleep(time.Minute)
		if j := h.get(t, com.ID); j.State != outbox.Pending || j.Attempts != 0 {
			t.Errorf("held comment = %s, attempts %d; want pending, 0", j.State, j.Attempts)
		}
		if got := h.metric(t, "holdline_outbox_depth", "state", "blocked"); got != 1 {
			t.Errorf("depth{blocked} = %v, want 1", got)
		}
		if got := h.metric(t, "holdline_outbox_dead_total", "kind", "crm.create_record"); got != 1 {
			t.Errorf("dead_total = %v, want 1", got)
		}
	})
}

func TestDispatcherPermanentThenReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fixed atomic.Bool
		var order []string
		var h *harness
		h = start(t, nil, map[string]outbox.Handler{
			"crm.create_record": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				order = append(order, "record")
				if !fixed.Load() {
					return nil, outbox.Permanent(errors.New("crm: 400 missing field"))
				}
				return json.RawMessage(`{"record_id":"500X"}`), nil
			},
			"crm.add_comment": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				order = append(order, "comment")
				// A comment needs its record's id, from the earlier job.
				jobs, err := h.store.Interaction(ctx, j.InteractionID)
				if err != nil {
					return nil, err
				}
				var rec struct {
					RecordID string `json:"record_id"`
				}
				if err := json.Unmarshal(jobs[0].Result, &rec); err != nil || rec.RecordID != "500X" {
					return nil, outbox.Permanent(fmt.Errorf("record result %s: %v", jobs[0].Result, err))
				}
				return json.RawMessage(`{"comment_on":"` + rec.RecordID + `"}`), nil
			},
		}, outbox.DispatcherConfig{})
		rec := h.enqueue(t, outbox.Job{Kind: "crm.create_record", InteractionID: "call-1"})
		com := h.enqueue(t, outbox.Job{Kind: "crm.add_comment", InteractionID: "call-1"})
		got := h.waitState(t, rec.ID, outbox.Dead, time.Minute)
		if got.Attempts != 1 || got.LastError != "crm: 400 missing field" {
			t.Errorf("dead job = attempts %d, last error %q; want 1, crm: 400 missing field", got.Attempts, got.LastError)
		}
		time.Sleep(time.Hour) // held for as long as the record is dead
		if j := h.get(t, com.ID); j.State != outbox.Pending {
			t.Fatalf("comment = %s, want pending (held)", j.State)
		}

		fixed.Store(true)
		if _, err := h.d.Replay(t.Context(), rec.ID); err != nil {
			t.Fatal(err)
		}
		h.waitState(t, com.ID, outbox.Done, time.Second) // Replay wakes the dispatcher
		if diff := cmp.Diff([]string{"record", "record", "comment"}, order); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
		if got := h.get(t, com.ID); string(got.Result) != `{"comment_on":"500X"}` {
			t.Errorf("comment result = %s", got.Result)
		}
	})
}

func TestDispatcherPausedSpendsNoAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var breakerOpen atomic.Bool
		breakerOpen.Store(true)
		crmCalls, blobCalls := 0, 0
		h := start(t, nil, map[string]outbox.Handler{
			"crm.add_comment": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				crmCalls++
				return nil, nil
			},
			"blob.upload": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				blobCalls++
				return nil, nil
			},
		}, outbox.DispatcherConfig{
			Paused:  func(dep string) bool { return dep == "crm" && breakerOpen.Load() },
			Backoff: config.Backoff{MaxElapsed: config.Duration(time.Minute)},
		})
		com := h.enqueue(t, outbox.Job{Kind: "crm.add_comment", Dependency: "crm"})
		up := h.enqueue(t, outbox.Job{Kind: "blob.upload", Dependency: "blob"})
		h.waitState(t, up.ID, outbox.Done, time.Second)
		time.Sleep(time.Hour) // far past MaxElapsed
		if got := h.get(t, com.ID); got.State != outbox.Pending || got.Attempts != 0 || crmCalls != 0 {
			t.Fatalf("paused job = %s, attempts %d, %d calls; want pending, 0, 0", got.State, got.Attempts, crmCalls)
		}
		breakerOpen.Store(false)
		got := h.waitState(t, com.ID, outbox.Done, 2*time.Second) // within a poll
		if got.Attempts != 1 || crmCalls != 1 || blobCalls != 1 {
			t.Errorf("after resume: attempts %d, crm calls %d, blob calls %d; want 1, 1, 1", got.Attempts, crmCalls, blobCalls)
		}
	})
}

func TestDispatcherErrPausedSpendsNoAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		errOpen := errors.New("circuit breaker open") // what failsafe's circuitbreaker.ErrOpen maps from
		h := start(t, nil, map[string]outbox.Handler{
			"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				calls++
				if calls <= 5 {
					return nil, fmt.Errorf("crm: %w: %w", outbox.ErrPaused, errOpen)
				}
				return nil, nil
			},
		}, outbox.DispatcherConfig{PauseDelay: 15 * time.Second})
		j := h.enqueue(t, outbox.Job{Kind: "k", Dependency: "crm"})
		start := time.Now()
		got := h.waitState(t, j.ID, outbox.Done, 5*time.Minute)
		if got.Attempts != 1 || !got.FirstFailedAt.IsZero() {
			t.Errorf("attempts %d, first failed %v; want 1, zero (pauses do not count)", got.Attempts, got.FirstFailedAt)
		}
		if elapsed := time.Since(start); elapsed < 75*time.Second || elapsed > 80*time.Second {
			t.Errorf("done after %v, want 5 pauses of 15s", elapsed)
		}
		if got := h.metric(t, "holdline_outbox_failures_total", "kind", "k"); got != 0 {
			t.Errorf("failures_total = %v, want 0", got)
		}
	})
}

func TestDispatcherRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil, map[string]outbox.Handler{
			"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) { return nil, nil },
		}, outbox.DispatcherConfig{Retention: time.Hour, SweepInterval: 10 * time.Minute})
		j := h.enqueue(t, outbox.Job{Kind: "k", IdempotencyKey: "once"})
		h.waitState(t, j.ID, outbox.Done, time.Second)
		time.Sleep(50 * time.Minute)
		synctest.Wait()
		if _, err := h.store.Get(t.Context(), j.ID); err != nil {
			t.Fatalf("Get before retention ends: %v", err)
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if _, err := h.store.Get(t.Context(), j.ID); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("Get after retention: %v, want ErrNotFound", err)
		}
		if st, err := h.store.Stats(t.Context()); err != nil || st.Done != 0 {
			t.Errorf("Stats after sweep = %+v, %v; want 0 done", st, err)
		}
	})
}

// TestDispatcherRecoversInflight simulates a crash: a job is claimed (its
// worker "dies"), the store is closed without an outcome, and a new
// Dispatcher on the reopened file runs the job.
func TestDispatcherRecoversInflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "outbox.db")
		s, err := outbox.OpenBolt(path, outbox.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		j, _, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", InteractionID: "call-1"})
		if err != nil {
			t.Fatal(err)
		}
		next, _, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", InteractionID: "call-1"})
		if err != nil {
			t.Fatal(err)
		}
		if claimed, err := s.Claim(t.Context(), time.Now(), 10, nil); err != nil || len(claimed) != 1 {
			t.Fatalf("Claim = %v, %v", claimed, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		var ran []string
		h := start(t, openBolt(t, path), map[string]outbox.Handler{
			"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				ran = append(ran, j.ID)
				return nil, nil
			},
		}, outbox.DispatcherConfig{})
		got := h.waitState(t, next.ID, outbox.Done, time.Second)
		if diff := cmp.Diff([]string{j.ID, next.ID}, ran); diff != "" {
			t.Errorf("ran (-want +got):\n%s", diff)
		}
		if got.Attempts != 1 {
			t.Errorf("attempts = %d, want 1 (the lost run is not counted)", got.Attempts)
		}
	})
}

func TestDispatcherShutdownPutsJobsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openBolt(t, filepath.Join(t.TempDir(), "outbox.db"))
		d, err := outbox.NewDispatcher(s, map[string]outbox.Handler{
			"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				<-ctx.Done() // a slow CRM call cut off by SIGTERM
				return nil, ctx.Err()
			},
		}, nil, outbox.DispatcherConfig{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		j, _, err := d.Enqueue(t.Context(), outbox.Job{Kind: "k"})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, _ := s.Get(t.Context(), j.ID); got.State != outbox.Inflight {
			t.Fatalf("job = %s, want inflight", got.State)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		got, _ := s.Get(t.Context(), j.ID)
		if got.State != outbox.Pending || got.Attempts != 0 {
			t.Errorf("after shutdown: %s, attempts %d; want pending, 0", got.State, got.Attempts)
		}
	})
}

func TestDispatcherRejects(t *testing.T) {
	t.Parallel()
	s := openBolt(t, filepath.Join(t.TempDir(), "outbox.db"))
	_, err := outbox.NewDispatcher(nil, map[string]outbox.Handler{"a": nil}, nil, outbox.DispatcherConfig{
		Workers: -1,
		Backoff: config.Backoff{Initial: config.Duration(time.Hour), Max: config.Duration(time.Second)},
	})
	if err == nil {
		t.Fatal("NewDispatcher with bad arguments succeeded")
	}
	for _, want := range []string{"store is nil", `handler for "a" is nil`, "workers -1", "backoff initial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewDispatcher error lacks %q:\n%v", want, err)
		}
	}

	reg := prometheus.NewRegistry()
	d, err := outbox.NewDispatcher(s, map[string]outbox.Handler{}, nil, outbox.DispatcherConfig{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.NewDispatcher(s, nil, nil, outbox.DispatcherConfig{Registerer: reg}); err == nil {
		t.Error("second NewDispatcher on one Registerer succeeded")
	}
	if _, _, err := d.Enqueue(t.Context(), outbox.Job{Kind: "unknown"}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Enqueue(unknown kind) error = %v, want ErrInvalid", err)
	}
}

func TestDispatcherEnqueueWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil, map[string]outbox.Handler{
			"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) { return nil, nil },
		}, outbox.DispatcherConfig{PollInterval: time.Hour})
		synctest.Wait() // the first, empty claim is over
		begin := time.Now()
		j := h.enqueue(t, outbox.Job{Kind: "k"})
		synctest.Wait()
		if got := h.get(t, j.ID); got.State != outbox.Done {
			t.Fatalf("job = %s right after Enqueue, want done (Enqueue wakes the dispatcher)", got.State)
		}
		if d := time.Since(begin); d != 0 {
			t.Errorf("job done after %v of bubble time, want at once (poll interval is 1h)", d)
		}
	})
}

func TestDispatcherLag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h := start(t, nil, map[string]outbox.Handler{
			"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				<-release
				return nil, nil
			},
		}, outbox.DispatcherConfig{Workers: 2, PollInterval: time.Hour})
		synctest.Wait()
		if got := h.d.Lag(); got != 0 {
			t.Fatalf("Lag with nothing queued = %v, want 0", got)
		}
		// One job for two workers: the claim comes back short, a worker is
		// free, so nothing waits however long the job runs.
		h.enqueue(t, outbox.Job{Kind: "k"})
		synctest.Wait()
		time.Sleep(10 * time.Second)
		if got := h.d.Lag(); got != 0 {
			t.Fatalf("Lag with a free worker = %v, want 0", got)
		}
		// Three more: one fills the free worker, two wait; the dispatcher
		// falls behind from the due time of the last job it started.
		for range 3 {
			h.enqueue(t, outbox.Job{Kind: "k"})
		}
		synctest.Wait()
		time.Sleep(5 * time.Second)
		if got := h.d.Lag(); got != 5*time.Second {
			t.Errorf("Lag with every worker held for 5s = %v, want 5s", got)
		}
		if got := h.metric(t, "holdline_outbox_lag_seconds"); got != 5 {
			t.Errorf("holdline_outbox_lag_seconds = %v, want 5", got)
		}
		close(release)
		synctest.Wait()
		if got := h.d.Lag(); got != 0 {
			t.Errorf("Lag once every job is done = %v, want 0", got)
		}
		if st, _ := h.store.Stats(t.Context()); st.Done != 4 {
			t.Errorf("done = %d, want 4", st.Done)
		}
	})
}

func TestDispatcherOnRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		var mu sync.Mutex
		var retried, finished []outbox.Job
		h := start(t, nil, map[string]outbox.Handler{
			"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
				switch runs.Add(1) {
				case 1:
					return nil, errors.New("crm: 503")
				case 2:
					return nil, fmt.Errorf("record on the secondary: %w", outbox.ErrHeld)
				}
				return json.RawMessage(`{"ok":true}`), nil
			},
		}, outbox.DispatcherConfig{
			PollInterval: 10 * time.Millisecond,
			PauseDelay:   time.Second,
			Backoff:      config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(time.Second), MaxElapsed: config.Duration(time.Hour)},
			OnRetry: func(j outbox.Job) {
				mu.Lock()
				defer mu.Unlock()
				retried = append(retried, j)
			},
			OnFinish: func(j outbox.Job) {
				mu.Lock()
				defer mu.Unlock()
				finished = append(finished, j)
			},
		})
		j := h.enqueue(t, outbox.Job{Kind: "k"})
		h.waitState(t, j.ID, outbox.Done, time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if len(retried) != 2 || len(finished) != 1 {
			t.Fatalf("OnRetry called %d times, OnFinish %d; want 2 and 1", len(retried), len(finished))
		}
		first, held := retried[0], retried[1]
		if first.State != outbox.Pending || first.Attempts != 1 || first.LastError != "crm: 503" || !first.NextAttemptAt.After(first.UpdatedAt) {
			t.Errorf("after a failure OnRetry got %s, attempts %d, last error %q, due %v at %v; want pending, 1, the error, due later",
				first.State, first.Attempts, first.LastError, first.NextAttemptAt, first.UpdatedAt)
		}
		if held.State != outbox.Held || held.Attempts != 1 || !strings.Contains(held.LastError, "secondary") || held.NextAttemptAt.Sub(held.UpdatedAt) != time.Second {
			t.Errorf("after a hold OnRetry got %s, attempts %d, last error %q, due in %v; want held, 1 (a hold is not counted), the reason, due later",
				held.State, held.Attempts, held.LastError, held.NextAttemptAt.Sub(held.UpdatedAt))
		}
	})
}
