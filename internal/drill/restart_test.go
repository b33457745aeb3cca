package drill

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
)

// A target that restarted forgot the drill's faults: deleting them answers
// 404, which cleanup takes as done, and the sampler reports the restart.
func TestRestartedTarget(t *testing.T) {
	var started atomic.Value
	started.Store("2026-01-01T00:00:00Z")
	var deletes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/status":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"started_at":"` + started.Load().(string) + `","dependencies":[{"name":"crm","breaker":"closed"}]}`))
		case r.Method == http.MethodPost && r.URL.Path == "/v1/admin/faults":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"f1","dependency":"crm"}`))
		case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/admin/faults/"):
			deletes.Add(1)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"type":"about:blank","title":"Not found","status":404}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	admin, err := newAdminAPI(srv.URL, "t", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	sm := &sampler{admin: admin}
	sm.sample(ctx)
	ctl := newControls(admin, "restart", map[string]adminapi.DependencyStatus{})
	ctl.apply(ctx, 0, Step{Fault: &FaultAction{Dependency: "crm", ErrorRate: 1, Duration: config.Duration(time.Minute)}})
	started.Store("2026-01-01T00:05:00Z") // the sidecar restarts
	sm.sample(ctx)

	before := time.Now()
	got := ctl.cleanup(ctx)
	after := time.Now()
	if len(got) != 1 || strings.Contains(got[0], "FAILED") {
		t.Errorf("cleanup = %q, want the fault counted as removed", got)
	}
	if deletes.Load() != 1 {
		t.Errorf("%d deletes, want the fault deleted by id once", deletes.Load())
	}
	if c, ok := ctl.clearedAt("crm"); !ok || c.Before(before) || c.After(after) {
		t.Errorf("clearedAt = %v %v, want during cleanup (%v..%v)", c, ok, before, after)
	}
	_, events := sm.snapshot()
	if len(events) != 1 || !strings.Contains(events[0].What, "target restarted") {
		t.Errorf("events = %v, want one restart", events)
	}
}
