package resilience

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// BenchmarkCall measures the whole chain (bulkhead, rate limiter, breaker,
// timeout, retry and hedge for reads, metrics, stats) around a no-op;
// write_adaptive is write with the adaptive limiter as its bulkhead.
func BenchmarkCall(b *testing.B) {
	noop := func(context.Context) (int, error) { return 1, nil }
	for _, bc := range []struct {
		name   string
		call   func(context.Context, *Dependency, string, func(context.Context) (int, error)) (int, error)
		mutate func(*config.Dependencies)
	}{
		{"write", Write[int], func(d *config.Dependencies) { d.CRM.RateLimit.PerSecond = 1 << 30 }},
		{"write_adaptive", Write[int], func(d *config.Dependencies) {
			d.CRM.RateLimit.PerSecond = 1 << 30
			d.CRM.Bulkhead = config.Bulkhead{Mode: "adaptive", MinConcurrent: 1, InitialConcurrent: 20, MaxConcurrent: 64}
		}},
		{"read_retry", Read[int], func(d *config.Dependencies) { d.CRM.Retry.MaxAttempts = 2 }},
		// A hedge delay (1s) past the policy timeout (800ms): no hedge
		// can start, and Read skips the hedge policy.
		{"read_retry_hedge", Read[int], func(d *config.Dependencies) {
			d.CRM.Retry.MaxAttempts = 2
			d.CRM.Hedge.Delay = config.Duration(time.Second)
		}},
		// A hedge delay that can fire: the hedge policy runs (a goroutine
		// for the first attempt, a timer, a context of its own).
		{"read_retry_hedge_armed", Read[int], func(d *config.Dependencies) {
			d.CRM.Retry.MaxAttempts = 2
			d.CRM.Hedge.Delay = config.Duration(50 * time.Millisecond)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, bc.mutate)
			d := e.crm()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.call(ctx, d, "lookup", noop); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHTTPClientNoFault is a loopback GET through a dependency's
// client with fault injection enabled but no fault active.
func BenchmarkHTTPClientNoFault(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer srv.Close()
	e := newEnv(b, func(d *config.Dependencies) { d.CRM.Endpoints.Primary = srv.URL })
	d := e.crm()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := httpGet(ctx, d, http.MethodGet, srv.URL); err != nil {
			b.Fatal(err)
		}
	}
}
