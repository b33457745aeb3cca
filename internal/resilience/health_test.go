package resilience

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/holdline/holdline/internal/config"
)

// healthServer answers /healthz with the status it is set to.
func healthServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var code atomic.Int32
	code.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, &code
}

// TestHealthThresholds: an endpoint is unknown until healthy_threshold
// probes in a row succeed, unhealthy after unhealthy_threshold failures in
// a row, and healthy again after healthy_threshold successes; the primary
// and secondary are tracked apart, and failing probes never move the
// breaker.
func TestHealthThresholds(t *testing.T) {
	primary, _ := healthServer(t)
	secondary, secCode := healthServer(t)
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Endpoints = config.Endpoints{Primary: primary.URL, Secondary: secondary.URL + "/"}
		d.CRM.HealthCheck = config.HealthCheck{Path: "/healthz", Interval: config.Duration(time.Minute),
			Timeout: config.Duration(5 * time.Second), HealthyThreshold: 2, UnhealthyThreshold: 3}
	})
	d := e.crm()
	if !d.HealthChecked() || e.set.Get("identity").HealthChecked() {
		t.Fatal("crm should have active checks, identity none")
	}
	state := func(ep string) EndpointHealth { return d.Health()[ep] }
	if s := state("secondary"); s.State != HealthUnknown || s.CheckedAt != nil {
		t.Fatalf("before a probe: %+v", s)
	}
	gauge := func(ep string) float64 {
		return e.metric(t, "holdline_endpoint_health", map[string]string{"dependency": "crm", "endpoint": ep})
	}
	if g := gauge("secondary"); g != -1 {
		t.Errorf("holdline_endpoint_health before a probe = %v, want -1 (unknown)", g)
	}
	d.probe(t.Context(), "secondary")
	if s := state("secondary"); s.State != HealthUnknown || s.CheckedAt == nil {
		t.Errorf("after 1 success: %+v, want unknown (threshold 2)", s)
	}
	d.probe(t.Context(), "secondary")
	if s := state("secondary"); s.State != HealthHealthy || s.Since == nil {
		t.Errorf("after 2 successes: %+v, want healthy", s)
	}
	if g := gauge("secondary"); g != 1 {
		t.Errorf("holdline_endpoint_health when healthy = %v, want 1", g)
	}

	secCode.Store(http.StatusServiceUnavailable)
	for i := 1; i <= 3; i++ {
		d.probe(t.Context(), "secondary")
		want := HealthHealthy
		if i == 3 {
			want = HealthUnhealthy
		}
		if s := state("secondary"); s.State != want || s.LastError != "http 503" {
			t.Errorf("after %d failures: %+v, want %s, http 503", i, s, want)
		}
	}
	if s := state("primary"); s.State != HealthUnknown || s.CheckedAt != nil {
		t.Errorf("primary = %+v, want unprobed: endpoints are tracked apart", s)
	}
	if g, p := gauge("secondary"), gauge("primary"); g != 0 || p != -1 {
		t.Errorf("holdline_endpoint_health secondary = %v, primary = %v; want 0 (unhealthy) and -1 (unknown)", g, p)
	}
	if got := d.breakerState(); got != circuitbreaker.ClosedState {
		t.Errorf("breaker = %s after failed probes, want closed", got)
	}

	secCode.Store(http.StatusOK)
	d.probe(t.Context(), "secondary")
	if s := state("secondary"); s.State != HealthUnhealthy || s.LastError != "" {
		t.Errorf("after 1 success: %+v, want still unhealthy, no error", s)
	}
	d.probe(t.Context(), "secondary")
	if s := state("secondary"); s.State != HealthHealthy {
		t.Errorf("after 2 successes: %+v, want healthy", s)
	}
}

// TestHealthProbeSeesDrillFaults: a drill fault on the secondary endpoint
// fails its probes (the probes use the dependency's client).
func TestHealthProbeSeesDrillFaults(t *testing.T) {
	primary, _ := healthServer(t)
	secondary, _ := healthServer(t)
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Endpoints = config.Endpoints{Primary: primary.URL, Secondary: secondary.URL}
		d.CRM.HealthCheck = config.HealthCheck{Path: "/healthz", Interval: config.Duration(time.Minute),
			Timeout: config.Duration(5 * time.Second), HealthyThreshold: 1, UnhealthyThreshold: 1}
	})
	if _, err := e.faults.Add(Fault{Dependency: "crm", Endpoint: "secondary", ErrorRate: 1, Status: 503, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	d := e.crm()
	d.probe(t.Context(), "secondary")
	d.probe(t.Context(), "primary")
	if s := d.Health()["secondary"]; s.State != HealthUnhealthy {
		t.Errorf("secondary under a drill fault = %+v, want unhealthy", s)
	}
	if s := d.Health()["primary"]; s.State != HealthHealthy {
		t.Errorf("primary = %+v, want healthy", s)
	}
}
