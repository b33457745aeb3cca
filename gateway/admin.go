package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/holdline/holdline/gateway/adminapi"
)

// Healthz answers 200 while the process runs.
func (s *Server) Healthz(ctx context.Context, _ adminapi.HealthzRequestObject) (adminapi.HealthzResponseObject, error) {
	return adminapi.Healthz200JSONResponse{Status: adminapi.HealthStatusOk}, nil
}

// Readyz answers 200 once listeners are up and stores are open. It never
// looks at upstream health: a sidecar whose CRM is down is ready, and
// degraded (static stability).
func (s *Server) Readyz(ctx context.Context, _ adminapi.ReadyzRequestObject) (adminapi.ReadyzResponseObject, error) {
	if s.stopping.Load() {
		return adminapi.Readyz503JSONResponse{Status: adminapi.HealthStatusStopping}, nil
	}
	if !s.ready.Load() {
		return adminapi.Readyz503JSONResponse{Status: adminapi.HealthStatusStarting}, nil
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
		return adminapi.Readyz503JSONResponse{Status: adminapi.HealthStatusStarting, Checks: &checks}, nil
	}
	return adminapi.Readyz200JSONResponse{Status: adminapi.HealthStatusOk, Checks: &checks}, nil
}

// Metrics is served by promhttp directly (see routes.go); this method only
// satisfies the generated interface.
func (s *Server) Metrics(ctx context.Context, _ adminapi.MetricsRequestObject) (adminapi.MetricsResponseObject, error) {
	return nil, errors.New("gateway: metrics are served by the metrics handler")
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: nil, Registry: s.opts.Registry})
}
