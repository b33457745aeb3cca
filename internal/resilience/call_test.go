package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

func TestBreakerOpensThenHalfOpensThenCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		d := e.crm()
		ctx := t.Context()
		for range 4 {
			if _, err := Read(ctx, d, "lookup", fail); !errors.Is(err, errBoom) {
				t.Fatalf("Read = %v, want boom", err)
			}
		}
		if d.BreakerAllows() {
			t.Fatal("BreakerAllows() = true after 4/4 failures, want false")
		}
		called := false
		_, err := Read(ctx, d, "lookup", func(context.Context) (string, error) { called = true; return "", nil })
		if !errors.Is(err, circuitbreaker.ErrOpen) || called {
			t.Fatalf("Read on open breaker = %v (fn called: %v), want ErrOpen without calling fn", err, called)
		}
		if got := Reason("crm", err); got != "crm: circuit open" {
			t.Errorf("Reason = %q", got)
		}
		if got := d.Status().Breaker; got != "open" {
			t.Errorf("Status().Breaker = %q, want open", got)
		}

		time.Sleep(4 * time.Second)
		if _, err := Read(ctx, d, "lookup", ok); !errors.Is(err, circuitbreaker.ErrOpen) {
			t.Fatalf("Read before open_for passed = %v, want ErrOpen", err)
		}
		time.Sleep(time.Second)
		if got := d.Status().Breaker; got != "half-open" {
			t.Errorf("Status().Breaker after open_for = %q, want half-open", got)
		}
		if !d.BreakerAllows() {
			t.Error("BreakerAllows() = false after open_for, want true")
		}
		for i := range 2 {
			if _, err := Read(ctx, d, "lookup", ok); err != nil {
				t.Fatalf("probe %d: %v", i, err)
			}
		}
		if got := d.Status().Breaker; got != "closed" {
			t.Errorf("Status().Breaker after probes = %q, want closed", got)
		}
		want := []string{"crm:closed->open", "crm:open->half-open", "crm:half-open->closed"}
		if diff := cmp.Diff(want, e.drainChanges()); diff != "" {
			t.Errorf("breaker changes (-want +got):\n%s", diff)
		}
		if got := e.metric(t, "holdline_dependency_requests_total", map[string]string{"dependency": "crm", "operation": "lookup", "outcome": "circuit_open"}); got != 2 {
			t.Errorf("circuit_open count = %v, want 2", got)
		}
	})
}

func TestBreakerFailedProbeReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		d := e.crm()
		for range 4 {
			Read(t.Context(), d, "lookup", fail)
		}
		time.Sleep(5 * time.Second)
		Read(t.Context(), d, "lookup", fail)
		if d.BreakerAllows() {
			t.Error("BreakerAllows() = true after a failed probe, want false")
		}
	})
}

func TestForcedBreakerModes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		d := e.crm()
		ctx := t.Context()

		if err := d.SetBreakerMode(BreakerOpen, "oncall", "crm maintenance"); err != nil {
			t.Fatal(err)
		}
		calls := 0
		count := func(context.Context) (string, error) { calls++; return "ok", nil }
		if _, err := Read(ctx, d, "lookup", count); !errors.Is(err, circuitbreaker.ErrOpen) || calls != 0 {
			t.Fatalf("forced open: Read = %v after %d calls, want ErrOpen and no call", err, calls)
		}
		st := d.Status()
		if st.Breaker != "open" || st.BreakerMode != BreakerOpen || st.BreakerOverride == nil ||
			st.BreakerOverride.Actor != "oncall" || st.BreakerOverride.Reason != "crm maintenance" {
			t.Errorf("forced open Status() = %+v", st)
		}
		if d.BreakerAllows() {
			t.Error("forced open: BreakerAllows() = true")
		}

		if err := d.SetBreakerMode(BreakerClosed, "oncall", "ride it out"); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			Read(ctx, d, "lookup", fail)
		}
		if !d.BreakerAllows() || d.Status().Breaker != "closed" {
			t.Errorf("forced closed after 50 failures: allows=%v state=%q, want closed", d.BreakerAllows(), d.Status().Breaker)
		}

		if err := d.SetBreakerMode(BreakerAuto, "oncall", "done"); err != nil {
			t.Fatal(err)
		}
		if st := d.Status(); st.BreakerMode != BreakerAuto || st.BreakerOverride != nil || st.Breaker != "closed" {
			t.Errorf("auto Status() = %+v", st)
		}
		for range 4 {
			Read(ctx, d, "lookup", fail)
		}
		if d.BreakerAllows() {
			t.Error("auto: breaker still closed after 4/4 failures")
		}
		want := []string{"crm:closed->open", "crm:open->closed", "crm:closed->open"}
		if diff := cmp.Diff(want, e.drainChanges()); diff != "" {
			t.Errorf("breaker changes (-want +got):\n%s", diff)
		}
		if got := e.metric(t, "holdline_breaker_state", map[string]string{"dependency": "crm"}); got != 2 {
			t.Errorf("holdline_breaker_state = %v, want 2", got)
		}

		if err := d.SetBreakerMode("sideways", "x", "y"); holdline.ErrorCode(err) != holdline.EINVALID || holdline.ErrorField(err) != "mode" {
			t.Errorf("SetBreakerMode(sideways) = %v, want an invalid error for mode", err)
		}
	})
}

func TestPermanentErrorsDoNotTripOrRetry(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Retry.MaxAttempts = 3 })
	d := e.crm()
	calls := 0
	for range 20 {
		_, err := Read(t.Context(), d, "lookup", func(context.Context) (string, error) {
			calls++
			return "", &upstream.StatusError{Code: 404}
		})
		if !upstream.IsPermanent(err) {
			t.Fatalf("Read = %v, want the permanent 404", err)
		}
	}
	if calls != 20 {
		t.Errorf("fn called %d times for 20 permanent failures, want 20 (no retries)", calls)
	}
	if !d.BreakerAllows() {
		t.Error("20 permanent errors opened the breaker")
	}
	if got := e.metric(t, "holdline_dependency_requests_total", map[string]string{"operation": "lookup", "outcome": "permanent"}); got != 20 {
		t.Errorf("permanent count = %v, want 20", got)
	}
}

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(d *config.Dependencies) { d.CRM.Timeout = config.Duration(100 * time.Millisecond) })
		d := e.crm()
		start := time.Now()
		_, err := Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
		if !errors.Is(err, timeout.ErrExceeded) {
			t.Fatalf("Read = %v, want timeout.ErrExceeded", err)
		}
		if el := time.Since(start); el != 100*time.Millisecond {
			t.Errorf("took %v, want the 100ms timeout", el)
		}
		if got := Reason("crm", err); got != "crm: timeout" {
			t.Errorf("Reason = %q, want crm: timeout", got)
		}

		// The caller's budget is shorter than the policy timeout.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		defer cancel()
		_, err = Read(ctx, d, "lookup", func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
		if got := Reason("crm", err); got != "crm: budget exhausted" {
			t.Errorf("Reason for the caller's deadline = %q (%v), want crm: budget exhausted", got, err)
		}
	})
}

// TestRetryOnlyReads: over HTTP, a write reaches a failing server once and
// a read max_attempts times.
func TestRetryOnlyReads(t *testing.T) {
	var h hits
	srv := httptest.NewServer(h.wrap(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Endpoints.Primary = srv.URL
		d.CRM.Retry.MaxAttempts = 3
		d.CRM.Retry.Backoff = config.Duration(time.Millisecond)
	})
	d := e.crm()

	_, err := Write(t.Context(), d, "create_record", func(ctx context.Context) (string, error) {
		return httpGet(ctx, d, http.MethodPost, d.Endpoint()+"/records")
	})
	var se *upstream.StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("Write = %v, want http 503", err)
	}
	if n := h.n.Load(); n != 1 {
		t.Errorf("Write reached the server %d times, want exactly 1", n)
	}

	h.n.Store(0)
	_, err = Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
		return httpGet(ctx, d, http.MethodGet, d.Endpoint()+"/contacts")
	})
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("Read = %v, want http 503 (the last error, unwrapped)", err)
	}
	if got := Reason("crm", err); got != "crm: http 503" {
		t.Errorf("Reason = %q, want crm: http 503", got)
	}
	if n := h.n.Load(); n != 3 {
		t.Errorf("Read reached the server %d times, want max_attempts=3", n)
	}
}

func TestRetrySucceedsAfterTransientFailure(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Retry.MaxAttempts = 3
		d.CRM.Retry.Backoff = config.Duration(time.Millisecond)
	})
	calls := 0
	got, err := Read(t.Context(), e.crm(), "lookup", func(context.Context) (int, error) {
		calls++
		if calls < 3 {
			return 0, errBoom
		}
		return 42, nil
	})
	if got != 42 || err != nil || calls != 3 {
		t.Errorf("Read = %v, %v after %d calls, want 42, nil after 3", got, err, calls)
	}
}

func TestHedgeFiresAfterDelay(t *testing.T) {
	checkGoroutines(t)
	var h hits
	slow := make(chan struct{})
	defer close(slow)
	srv := httptest.NewServer(h.wrap(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Attempt") == "1" {
			select { // the first attempt hangs until canceled
			case <-r.Context().Done():
			case <-slow:
			}
			return
		}
		w.Write([]byte("hedged"))
	}))
	defer srv.Close()
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Endpoints.Primary = srv.URL
		d.CRM.Hedge.Delay = config.Duration(30 * time.Millisecond)
		d.CRM.Timeout = config.Duration(5 * time.Second)
	})
	d := e.crm()
	var mu sync.Mutex
	attempt := 0
	start := time.Now()
	got, err := Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
		mu.Lock()
		attempt++
		n := attempt
		mu.Unlock()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.Endpoint(), nil)
		req.Header.Set("X-Attempt", string(rune('0'+n)))
		resp, err := d.HTTPClient().Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b := make([]byte, 16)
		k, _ := resp.Body.Read(b)
		return string(b[:k]), nil
	})
	// The first attempt never answers and the timeout is 5s, so the
	// hedge's answer shows the hedge fired and Read did not wait for the
	// first attempt; how soon after the delay is the bench harness's
	// business, not a wall-clock bound here.
	if err != nil || got != "hedged" {
		t.Fatalf("Read = %q, %v, want the hedge's answer", got, err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("hedged call took %v, want at least the 30ms hedge delay", el)
	}
	if n := h.n.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2 (original + hedge)", n)
	}

	// A write is never hedged.
	h.n.Store(0)
	Write(t.Context(), d, "create", func(ctx context.Context) (string, error) {
		return httpGet(ctx, d, http.MethodPost, d.Endpoint())
	})
	if n := h.n.Load(); n != 1 {
		t.Errorf("Write sent %d requests, want 1", n)
	}
	srv.CloseClientConnections()
	d.HTTPClient().CloseIdleConnections()
}

// TestBulkheadRefusalsOpenTheBreaker: calls refused because the bulkhead
// is full of calls the dependency has not answered count as breaker
// failures, so a dependency that hangs opens the breaker as surely as one
// that fails fast, even after many successes; forced closed, they do not.
func TestBulkheadRefusalsOpenTheBreaker(t *testing.T) {
	for _, mode := range []BreakerMode{BreakerAuto, BreakerClosed} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, func(d *config.Dependencies) { d.CRM.Bulkhead.MaxConcurrent = 1 })
			d := e.crm()
			for range 10 {
				if _, err := Read(t.Context(), d, "lookup", ok); err != nil {
					t.Fatalf("Read = %v", err)
				}
			}
			if err := d.SetBreakerMode(mode, "test", "test"); err != nil {
				t.Fatal(err)
			}
			inside, release := make(chan struct{}), make(chan struct{})
			done := make(chan error)
			go func() {
				_, err := Read(t.Context(), d, "lookup", func(context.Context) (string, error) {
					close(inside)
					<-release // a call the dependency never answers
					return "ok", nil
				})
				done <- err
			}()
			<-inside
			for range 10 {
				if _, err := Read(t.Context(), d, "lookup", ok); !errors.Is(err, bulkhead.ErrFull) {
					t.Fatalf("Read with the bulkhead full = %v, want bulkhead.ErrFull", err)
				}
			}
			want := "open"
			if mode == BreakerClosed {
				want = "closed"
			}
			if got := d.Status().Breaker; got != want {
				t.Errorf("breaker after 10 successes and 10 bulkhead refusals, mode %s = %s, want %s", mode, got, want)
			}
			close(release)
			if err := <-done; err != nil {
				t.Errorf("held Read = %v", err)
			}
			if _, err := Read(t.Context(), d, "lookup", ok); mode == BreakerAuto && !errors.Is(err, circuitbreaker.ErrOpen) {
				t.Errorf("Read once the bulkhead has room, breaker open = %v, want circuitbreaker.ErrOpen", err)
			}
		})
	}
}

func TestBulkheadFullRejects(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Bulkhead.MaxConcurrent = 1 })
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
	_, err := Read(t.Context(), d, "lookup", ok)
	if !errors.Is(err, bulkhead.ErrFull) {
		t.Errorf("second concurrent Read = %v, want bulkhead.ErrFull", err)
	}
	if got := Reason("crm", err); got != "crm: bulkhead full" {
		t.Errorf("Reason = %q", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("first Read = %v", err)
	}
	if _, err := Read(t.Context(), d, "lookup", ok); err != nil {
		t.Errorf("Read after release = %v, want the permit back", err)
	}
	if !d.BreakerAllows() {
		t.Error("bulkhead rejections counted against the breaker")
	}
}

func TestRateLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(d *config.Dependencies) { d.CRM.RateLimit.PerSecond = 3 })
		d := e.crm()
		for i := range 3 {
			if _, err := Read(t.Context(), d, "lookup", ok); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		_, err := Read(t.Context(), d, "lookup", ok)
		if !errors.Is(err, ratelimiter.ErrExceeded) || Reason("crm", err) != "crm: rate limited" {
			t.Fatalf("4th call in a second = %v, want rate limited", err)
		}
		time.Sleep(time.Second)
		if _, err := Read(t.Context(), d, "lookup", ok); err != nil {
			t.Errorf("call in the next second = %v", err)
		}
		if got := e.metric(t, "holdline_dependency_requests_total", map[string]string{"outcome": "rate_limited"}); got != 1 {
			t.Errorf("rate_limited count = %v, want 1", got)
		}
	})
}

func TestCanceledCallerIsNotABreakerFailure(t *testing.T) {
	e := newEnv(t, nil)
	d := e.crm()
	for range 10 {
		ctx, cancel := context.WithCancel(t.Context())
		Read(ctx, d, "lookup", func(ctx context.Context) (string, error) {
			cancel()
			return "", ctx.Err()
		})
	}
	if !d.BreakerAllows() {
		t.Error("canceled callers opened the breaker")
	}
	_, err := Read(canceledCtx(), d, "lookup", ok)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a canceled ctx = %v", err)
	}
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestPanicReleasesPermits(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Bulkhead.MaxConcurrent = 1 })
	d := e.crm()
	func() {
		defer func() { recover() }()
		Read(t.Context(), d, "lookup", func(context.Context) (string, error) { panic("bug") })
	}()
	if _, err := Read(t.Context(), d, "lookup", ok); err != nil {
		t.Errorf("Read after a panicking fn = %v, want the bulkhead permit released", err)
	}
}

// TestRetriesDoNotHideAFlappingDependency: every first attempt fails and
// every retry succeeds. Each call succeeds, yet the dependency fails half
// its requests; the breaker must see that and open, instead of letting
// retries double the load on it.
func TestRetriesDoNotHideAFlappingDependency(t *testing.T) {
	var h hits
	srv := httptest.NewServer(h.wrap(func(w http.ResponseWriter, r *http.Request) {
		if h.n.Load()%2 == 1 {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Endpoints.Primary = srv.URL
		d.CRM.Retry.MaxAttempts = 2
		d.CRM.Retry.Backoff = config.Duration(time.Millisecond)
		d.CRM.Breaker.MinRequests = 10
		d.CRM.Breaker.FailureRate = 0.5
	})
	d := e.crm()
	for i := range 20 {
		_, err := Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
			return httpGet(ctx, d, http.MethodGet, d.Endpoint()+"/contacts")
		})
		if errors.Is(err, circuitbreaker.ErrOpen) {
			t.Logf("breaker open after %d calls (%d requests)", i, h.n.Load())
			return
		}
	}
	t.Fatalf("breaker still %s after 20 calls that each needed a retry (%d requests); want it open", d.Status().Breaker, h.n.Load())
}

// TestHedgeNeverStartsPastTheDeadline: with a hedge delay longer than
// what the call may last (the policy timeout, or the caller's earlier
// deadline), the one attempt runs until the deadline ends it and no
// hedge starts; the error says which deadline it was.
func TestHedgeNeverStartsPastTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name            string
		timeout, caller time.Duration
		want            error
	}{
		{"policy timeout first", 40 * time.Millisecond, 0, timeout.ErrExceeded},
		{"caller's deadline first", 5 * time.Second, 40 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(d *config.Dependencies) {
					d.CRM.Hedge.Delay = config.Duration(time.Second)
					d.CRM.Timeout = config.Duration(tc.timeout)
				})
				d := e.crm()
				ctx := t.Context()
				if tc.caller > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.caller)
					defer cancel()
				}
				var attempts atomic.Int32
				_, err := Read(ctx, d, "lookup", func(ctx context.Context) (int, error) {
					attempts.Add(1)
					<-ctx.Done()
					return 0, ctx.Err()
				})
				if !errors.Is(err, tc.want) {
					t.Errorf("Read error = %v, want %v", err, tc.want)
				}
				if n := attempts.Load(); n != 1 {
					t.Errorf("Read made %d attempts, want 1 (no hedge)", n)
				}
			})
		})
	}
}
