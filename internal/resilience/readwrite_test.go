package resilience

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// retryAndHedge gives the CRM every policy that could repeat a call, and a
// breaker that stays out of the way.
func retryAndHedge(d *config.Dependencies) {
	d.CRM.Breaker.MinRequests = 100
	d.CRM.Retry.MaxAttempts = 3
	d.CRM.Retry.Backoff = config.Duration(time.Millisecond)
	d.CRM.Hedge.Delay = config.Duration(10 * time.Millisecond)
	d.CRM.Timeout = config.Duration(time.Second)
}

// TestWriteRunsOnceReadRepeats: with a policy that retries three times and
// hedges after 10ms, a Write calls fn exactly once however it fails, and a
// Read given the same answers calls it again.
func TestWriteRunsOnceReadRepeats(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*config.Dependencies)
		attempt   func(context.Context) (string, error)
		wantReads int32
	}{
		{"transient error, retry only", func(d *config.Dependencies) {
			d.CRM.Retry.MaxAttempts = 3
			d.CRM.Retry.Backoff = config.Duration(time.Millisecond)
		}, fail, 3},
		// A failed attempt that may be retried does not end the hedge: it
		// waits out the hedge delay and hedges once, so each of the three
		// retries makes two attempts.
		{"transient error, retry and hedge", retryAndHedge, fail, 6},
		{"http 503, retry and hedge", retryAndHedge, func(context.Context) (string, error) {
			return "", &upstream.StatusError{Code: 503}
		}, 6},
		{"http 404, retry and hedge", retryAndHedge, func(context.Context) (string, error) {
			return "", &upstream.StatusError{Code: 404} // permanent: once for both
		}, 1},
		{"slow answer, hedge only", func(d *config.Dependencies) {
			d.CRM.Hedge.Delay = config.Duration(10 * time.Millisecond)
			d.CRM.Timeout = config.Duration(time.Second)
		}, func(ctx context.Context) (string, error) {
			select {
			case <-time.After(50 * time.Millisecond): // past the hedge delay
				return "ok", nil
			case <-ctx.Done(): // a hedge's loser
				return "", ctx.Err()
			}
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tt.mutate)
				d := e.crm()
				var calls atomic.Int32
				counted := func(ctx context.Context) (string, error) {
					calls.Add(1)
					return tt.attempt(ctx)
				}
				_, err := Write(t.Context(), d, "create_record", counted)
				if n := calls.Load(); n != 1 {
					t.Errorf("Write called fn %d times (err %v), want exactly 1", n, err)
				}
				calls.Store(0)
				Read(t.Context(), d, "lookup", counted)
				if n := calls.Load(); n != tt.wantReads {
					t.Errorf("Read called fn %d times, want %d", n, tt.wantReads)
				}
			})
		})
	}
}

// TestWritesAndReadsShareTheBreaker: both executors hold the same breaker,
// so failed writes open it for reads, and the outbox's BreakerAllows sees
// it.
func TestWritesAndReadsShareTheBreaker(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Retry.MaxAttempts = 3 })
	d := e.crm()
	for range 4 {
		if _, err := Write(t.Context(), d, "create_record", fail); !errors.Is(err, errBoom) {
			t.Fatalf("Write = %v, want boom", err)
		}
	}
	if d.BreakerAllows() {
		t.Fatal("BreakerAllows() = true after 4 failed writes, want false")
	}
	called := false
	_, err := Read(t.Context(), d, "lookup", func(context.Context) (string, error) { called = true; return "ok", nil })
	if !errors.Is(err, circuitbreaker.ErrOpen) || called {
		t.Errorf("Read after failed writes = %v (fn called: %v), want ErrOpen without calling fn", err, called)
	}
	if got := e.metric(t, "holdline_dependency_requests_total", map[string]string{"operation": "create_record", "outcome": "failure"}); got != 4 {
		t.Errorf("create_record failures = %v, want 4", got)
	}
}

// TestCanceledCallerNeverCounts: a caller that gives up mid-call is not
// the dependency failing, whichever executor ran the call and whatever
// error the callee made of the cancellation.
func TestCanceledCallerNeverCounts(t *testing.T) {
	for _, tt := range []struct {
		name string
		call func(context.Context, *Dependency, string, func(context.Context) (string, error)) (string, error)
	}{
		{"write", Write[string]},
		{"read with retry and hedge", Read[string]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, retryAndHedge)
			d := e.crm()
			for range 10 {
				ctx, cancel := context.WithCancel(t.Context())
				_, err := tt.call(ctx, d, "op", func(ctx context.Context) (string, error) {
					cancel()
					return "", errors.New("use of closed network connection") // not ctx.Err()
				})
				if err == nil {
					t.Fatal("call = nil error, want the cancellation")
				}
			}
			if !d.BreakerAllows() {
				t.Error("canceled callers opened the breaker")
			}
			if got := e.metric(t, "holdline_dependency_requests_total", map[string]string{"operation": "op", "outcome": "canceled"}); got != 10 {
				t.Errorf("canceled count = %v, want 10", got)
			}
		})
	}
}

// TestPanicInAHedgeReachesTheCaller: a panicking attempt, even one running
// on a hedge's goroutine, panics in the caller after the bulkhead permit
// is back.
func TestPanicInAHedgeReachesTheCaller(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) {
		retryAndHedge(d)
		d.CRM.Bulkhead.MaxConcurrent = 1
	})
	d := e.crm()
	var got any
	func() {
		defer func() { got = recover() }()
		Read(t.Context(), d, "lookup", func(context.Context) (string, error) { panic("bug") })
	}()
	if got != "bug" {
		t.Errorf("recovered %v, want the attempt's panic \"bug\"", got)
	}
	if _, err := Read(t.Context(), d, "lookup", ok); err != nil {
		t.Errorf("Read after a panicking attempt = %v, want the bulkhead permit released", err)
	}
}
