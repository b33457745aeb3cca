package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/holdline/holdline/gateway/adminapi"
)

// Healthz answers 200 while the process runs.
func (s *Server) Healthz(ctx context.Context, _ adminapi.HealthzRequestObject) (adminapi.HealthzResponseObject, error) {
	return adminapi.Healthz200JSONResponse{Status: adminapi.Ok}, nil
}

// Readyz answers 200 once listeners are up and stores are open. It never
// looks at upstream health: a sidecar whose CRM is down is ready, and
// degraded (static stability).
func (s *Server) Readyz(ctx context.Context, _ adminapi.ReadyzRequestObject) (adminapi.ReadyzResponseObject, error) {
	if s.stopping.Load() {
		return adminapi.Readyz503JSONResponse{Status: adminapi.Stopping}, nil
	}
	if !s.ready.Load() {
		return adminapi.Readyz503JSONResponse{Status: adminapi.Starting}, nil
	}
	s.checksMu.Lock()
	defer s.checksMu.Unlock()
	checks := make(map[string]string, len(s.checks))
	failed := false
	for name, check := range s.checks {
		if err := check(); err != nil {
			checks[name] = err.Error()
			failed = true
		} else {
			checks[name] = "ok"
		}
	}
	if failed {
		return adminapi.Readyz503JSONResponse{Status: adminapi.Starting, Checks: &checks}, nil
	}
	return adminapi.Readyz200JSONResponse{Status: adminapi.Ok, Checks: &checks}, nil
}

// Metrics is served by promhttp directly (see routes.go); this method only
// satisfies the generated interface.
func (s *Server) Metrics(ctx context.Context, _ adminapi.MetricsRequestObject) (adminapi.MetricsResponseObject, error) {
	return nil, errors.New("gateway: metrics are served by the metrics handler")
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: nil, Registry: s.opts.Registry})
}

// GetStatus reports the sidecar's state: version, mode, and the sections
// the rest of the sidecar registered (dependencies, outbox, drills).
func (s *Server) GetStatus(ctx context.Context, _ adminapi.GetStatusRequestObject) (adminapi.GetStatusResponseObject, error) {
	mode := adminapi.Production
	if s.opts.Dev {
		mode = adminapi.Dev
	}
	st := adminapi.GetStatus200JSONResponse{
		Version:      s.opts.Version,
		StartedAt:    s.startedAt.UTC(),
		Mode:         mode,
		Dependencies: []map[string]any{},
	}
	if s.opts.Degraded != nil {
		d := s.opts.Degraded()
		st.Degraded = &d
	}
	extras := map[string]any{}
	for name, f := range s.opts.StatusExtras {
		extras[name] = f(ctx)
	}
	return statusResponse{base: st, extras: extras}, nil
}

// statusResponse is the generated status plus the sections registered in
// Options.StatusExtras, which replace same-named fields.
type statusResponse struct {
	base   adminapi.GetStatus200JSONResponse
	extras map[string]any
}

func (r statusResponse) VisitGetStatusResponse(w http.ResponseWriter) error {
	b, err := json.Marshal(adminapi.Status(r.base))
	if err != nil {
		return err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	maps.Copy(out, r.extras)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
