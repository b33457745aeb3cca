package resilience

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// env is one Set under test with its registry and recorded breaker changes.
type env struct {
	set     *Set
	reg     *prometheus.Registry
	faults  *Faults
	changes chan string
}

// newEnv builds a Set from config.Default() with small, test-friendly
// breaker numbers, after mutate has adjusted it.
func newEnv(t testing.TB, mutate func(d *config.Dependencies), opts ...func(*Options)) *env {
	t.Helper()
	deps := config.Default().Dependencies
	for _, name := range config.Names {
		p := deps.Policy(name)
		p.Breaker.MinRequests = 4
		p.Breaker.Window = config.Duration(10 * time.Second)
		p.Breaker.OpenFor = config.Duration(5 * time.Second)
		p.Breaker.HalfOpenProbes = 2
		p.Retry.MaxAttempts = 1
	}
	if mutate != nil {
		mutate(&deps)
	}
	e := &env{reg: prometheus.NewRegistry(), faults: NewFaults(nil), changes: make(chan string, 100)}
	e.faults.SetRand(mrand.New(mrand.NewPCG(1, 2)))
	o := Options{
		Registerer:    e.reg,
		AllowLoopback: true,
		Faults:        e.faults,
		OnBreakerChange: func(dep, from, to string) {
			e.changes <- dep + ":" + from + "->" + to
		},
	}
	for _, f := range opts {
		f(&o)
	}
	s, err := NewSet(deps, o)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	t.Cleanup(s.CloseIdleConnections)
	e.set = s
	return e
}

func (e *env) crm() *Dependency { return e.set.Get("crm") }

// drainChanges returns the breaker changes recorded so far.
func (e *env) drainChanges() []string {
	var out []string
	for {
		select {
		case c := <-e.changes:
			out = append(out, c)
		default:
			return out
		}
	}
}

// counter returns the value of the named counter series, 0 when absent.
func (e *env) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// httpGet is what an adapter does: a request through the dependency's
// client, a *upstream.StatusError for a non-2xx answer.
func httpGet(ctx context.Context, d *Dependency, method, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := d.HTTPClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode >= 300 {
		se := &upstream.StatusError{Code: resp.StatusCode}
		if s := resp.Header.Get("Retry-After"); s == "1" {
			se.RetryAfter = time.Second
		}
		return "", se
	}
	return string(b), nil
}

// hits counts requests to a test server.
type hits struct{ n atomic.Int64 }

func (h *hits) wrap(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.n.Add(1)
		next(w, r)
	}
}

var errBoom = fmt.Errorf("boom")

func fail(context.Context) (string, error) { return "", errBoom }
func ok(context.Context) (string, error)   { return "ok", nil }

// staticLookup resolves names from a table and fails for the rest.
func staticLookup(m map[string]string) LookupFunc {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		s, found := m[host]
		if !found {
			return nil, fmt.Errorf("lookup %s: no such host", host)
		}
		for _, a := range strings.Split(s, ",") {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

// checkGoroutines fails the test if it ends with more goroutines than it
// started with, after giving them a moment to exit.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf)
		}
	})
}
