package resilience

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// BenchmarkGet measures the whole chain (bulkhead, rate limiter, breaker,
// timeout, metrics, stats) around a no-op.
func BenchmarkGet(b *testing.B) {
	noop := func(context.Context) (int, error) { return 1, nil }
	for _, bc := range []struct {
		name       string
		idempotent bool
		mutate     func(*config.Dependencies)
	}{
		{"write", false, func(d *config.Dependencies) { d.CRM.RateLimit.PerSecond = 1 << 30 }},
		{"read_retry", true, func(d *config.Dependencies) { d.CRM.Retry.MaxAttempts = 2 }},
		{"read_retry_hedge", true, func(d *config.Dependencies) {
			d.CRM.Retry.MaxAttempts = 2
			d.CRM.Hedge.Delay = config.Duration(time.Second)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, bc.mutate)
			d := e.crm()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Get(ctx, d, "lookup", bc.idempotent, noop); err != nil {
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
