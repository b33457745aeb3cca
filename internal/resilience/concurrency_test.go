package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/bulkhead"

	"github.com/holdline/holdline/internal/config"
)

// adaptive makes the CRM's bulkhead adaptive with the given limits.
func adaptive(minC, initial, maxC int, queue float64) func(*config.Dependencies) {
	return func(d *config.Dependencies) {
		d.CRM.Bulkhead = config.Bulkhead{Mode: "adaptive", MinConcurrent: minC, InitialConcurrent: initial, MaxConcurrent: maxC, Queue: queue}
	}
}

// shortWindow lets the adaptive limiter change its limit every 20ms and
// 10 calls instead of every second and 50 calls.
func shortWindow(o *Options) {
	o.adaptiveWindow = &sampleWindow{min: 20 * time.Millisecond, max: time.Second, samples: 10}
}

// TestAdaptiveLimitFollowsLatency drives the CRM dependency with 8
// callers against a real loopback server: while the server is fast the
// limit grows from 4 to 30 and more (up to 5x the calls in flight, the
// limiter's headroom), when it turns slow (250ms an answer) the limit
// falls, and when it is fast again the limit grows back. Each phase waits
// for the limit to move (bounded by a generous deadline), never for a time.
func TestAdaptiveLimitFollowsLatency(t *testing.T) {
	var delay atomic.Int64 // ns
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(delay.Load()); d > 0 {
			time.Sleep(d)
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	e := newEnv(t, func(d *config.Dependencies) {
		adaptive(1, 4, 64, 0)(d)
		d.CRM.Endpoints.Primary = srv.URL
		d.CRM.Timeout = config.Duration(5 * time.Second)
		d.CRM.Breaker.MinRequests = 1 << 20 // latency is the subject here, not the breaker
	}, shortWindow)
	d := e.crm()

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var calls, refused atomic.Int64
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := Read(ctx, d, "lookup", func(ctx context.Context) (string, error) {
					return httpGet(ctx, d, http.MethodGet, srv.URL)
				})
				calls.Add(1)
				if errors.Is(err, bulkhead.ErrFull) {
					refused.Add(1)
					time.Sleep(time.Millisecond) // over the limit: back off instead of spinning
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	// until waits for the limit to satisfy ok, failing after a deadline
	// far beyond what the phase needs.
	until := func(phase string, ok func(limit int) bool) int {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			l := d.Concurrency().Limit
			if ok(l) {
				return l
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: limit stayed at %d (calls %d, refused %d)", phase, l, calls.Load(), refused.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	grown := until("fast upstream", func(l int) bool { return l >= 30 })
	delay.Store(int64(250 * time.Millisecond))
	low := until("slow upstream", func(l int) bool { return l <= grown-5 })
	delay.Store(0)
	until("fast again", func(l int) bool { return l >= low+2 })

	st := d.Status().Concurrency
	if st.Mode != "adaptive" || st.Min != 1 || st.Max != 64 || st.Limit < 1 || st.Limit > 64 {
		t.Errorf("status concurrency = %+v, want adaptive within [1, 64]", st)
	}
}

// TestAdaptiveLimitRejectsLikeAFullBulkhead: a call over the adaptive
// limit is refused at once with an error that is both bulkhead.ErrFull
// and adaptivelimiter.ErrExceeded, counted as bulkhead_full, and status
// and the metrics show the limit and the call in flight.
func TestAdaptiveLimitRejectsLikeAFullBulkhead(t *testing.T) {
	e := newEnv(t, adaptive(1, 1, 1, 0))
	d := e.crm()
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := Read(t.Context(), d, "lookup", func(context.Context) (string, error) {
			close(inside)
			<-release
			return "ok", nil
		})
		done <- err
	}()
	<-inside
	st := d.Status().Concurrency
	if want := (ConcurrencyStatus{Mode: "adaptive", Limit: 1, Min: 1, Max: 1, Inflight: 1}); st != want {
		t.Errorf("status concurrency with one call in flight = %+v, want %+v", st, want)
	}
	if got := e.metric(t, "holdline_concurrency_inflight", map[string]string{"dependency": "crm"}); got != 1 {
		t.Errorf("holdline_concurrency_inflight = %v, want 1", got)
	}
	if got := e.metric(t, "holdline_concurrency_limit", map[string]string{"dependency": "crm", "mode": "adaptive"}); got != 1 {
		t.Errorf("holdline_concurrency_limit = %v, want 1", got)
	}
	for name, call := range map[string]func() error{
		"Read":  func() error { _, err := Read(t.Context(), d, "lookup", ok); return err },
		"Write": func() error { _, err := Write(t.Context(), d, "create", ok); return err },
	} {
		err := call()
		if !errors.Is(err, bulkhead.ErrFull) || !errors.Is(err, adaptivelimiter.ErrExceeded) {
			t.Errorf("%s over the limit = %v, want bulkhead.ErrFull and adaptivelimiter.ErrExceeded", name, err)
		}
		if got := Reason("crm", err); got != "crm: concurrency limit" {
			t.Errorf("%s: Reason = %q", name, got)
		}
	}
	if got := e.metric(t, "holdline_dependency_requests_total", map[string]string{"dependency": "crm", "operation": "lookup", "outcome": "bulkhead_full"}); got != 1 {
		t.Errorf("bulkhead_full lookups = %v, want 1", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first Read = %v", err)
	}
	if _, err := Read(t.Context(), d, "lookup", ok); err != nil {
		t.Errorf("Read after release = %v, want the permit back", err)
	}
	if st := d.Concurrency(); st.Inflight != 0 {
		t.Errorf("in flight after every call returned = %d, want 0", st.Inflight)
	}
}

// TestAdaptiveQueueWaitsWithinTimeout: with queue set, a call over the
// limit waits for a permit (shown as queued) and goes through when one is
// given back; one still waiting when its timeout comes is refused like a
// full bulkhead, not left hanging.
func TestAdaptiveQueueWaitsWithinTimeout(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) {
		adaptive(1, 1, 1, 1)(d)
		d.CRM.Timeout = config.Duration(time.Minute)
	})
	d := e.crm()
	inside, release := make(chan struct{}), make(chan struct{})
	first := make(chan error)
	go func() {
		_, err := Read(t.Context(), d, "lookup", func(context.Context) (string, error) {
			close(inside)
			<-release
			return "ok", nil
		})
		first <- err
	}()
	<-inside
	second := make(chan error)
	go func() { _, err := Read(t.Context(), d, "lookup", ok); second <- err }()
	for d.Concurrency().Queued != 1 {
		time.Sleep(time.Millisecond)
	}
	if got := e.metric(t, "holdline_concurrency_queued", map[string]string{"dependency": "crm"}); got != 1 {
		t.Errorf("holdline_concurrency_queued = %v, want 1", got)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first Read = %v", err)
	}
	if err := <-second; err != nil {
		t.Errorf("queued Read = %v, want it to get the permit given back", err)
	}

	// Now hold the permit and let a queued call's own deadline pass.
	inside, release = make(chan struct{}), make(chan struct{})
	go func() {
		_, err := Read(t.Context(), d, "lookup", func(context.Context) (string, error) {
			close(inside)
			<-release
			return "ok", nil
		})
		first <- err
	}()
	<-inside
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := Read(ctx, d, "lookup", ok)
	if !errors.Is(err, bulkhead.ErrFull) {
		t.Errorf("Read queued past its deadline = %v, want bulkhead.ErrFull", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("holding Read = %v", err)
	}
	if st := d.Concurrency(); st.Inflight != 0 || st.Queued != 0 {
		t.Errorf("after every call returned: %+v, want nothing in flight or queued", st)
	}
}

// TestFixedBulkheadStatus: the fixed bulkhead reports max_concurrent as
// its limit, in status and as holdline_concurrency_limit{mode="fixed"}.
func TestFixedBulkheadStatus(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Bulkhead.MaxConcurrent = 7 })
	d := e.crm()
	if st, want := d.Status().Concurrency, (ConcurrencyStatus{Mode: "fixed", Limit: 7, Min: 7, Max: 7}); st != want {
		t.Errorf("status concurrency = %+v, want %+v", st, want)
	}
	if got := e.metric(t, "holdline_concurrency_limit", map[string]string{"dependency": "crm", "mode": "fixed"}); got != 7 {
		t.Errorf("holdline_concurrency_limit = %v, want 7", got)
	}
}

// TestAdaptiveConfigRefused: NewSet refuses adaptive limits that do not
// fit together, naming the key, instead of letting the limiter panic.
func TestAdaptiveConfigRefused(t *testing.T) {
	deps := config.Default().Dependencies
	deps.CRM.Bulkhead = config.Bulkhead{Mode: "adaptive", MinConcurrent: 8, InitialConcurrent: 2, MaxConcurrent: 4}
	_, err := NewSet(deps, Options{AllowLoopback: true})
	var p *config.Problem
	if !errors.As(err, &p) {
		t.Fatalf("NewSet = %v, want a *config.Problem", err)
	}
	for _, key := range []string{"dependencies.crm.bulkhead.min_concurrent", "dependencies.crm.bulkhead.initial_concurrent"} {
		if !containsProblem(err, key) {
			t.Errorf("NewSet = %v, want a problem at %s", err, key)
		}
	}
}

func containsProblem(err error, path string) bool {
	var found bool
	var walk func(error)
	walk = func(err error) {
		var p *config.Problem
		if errors.As(err, &p) && p.Path == path {
			found = true
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return found
}
