package gateway

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/resilience"
)

// GetStatus reports the sidecar's state as the spec's typed Status: the
// gateway's own fields (version, mode, dependencies, drills) and the
// sections the rest of the sidecar adds through Options.StatusSections.
func (s *Server) GetStatus(ctx context.Context, _ adminapi.GetStatusRequestObject) (adminapi.GetStatusResponseObject, error) {
	return statusResponse(s.status(ctx)), nil
}

// status builds /v1/status. The status page renders the same value.
func (s *Server) status(ctx context.Context) adminapi.Status {
	st := adminapi.Status{
		Version:      s.opts.Version,
		StartedAt:    s.startedAt.UTC(),
		Mode:         adminapi.Production,
		Dependencies: []adminapi.DependencyStatus{},
		Drills:       adminapi.DrillsStatus{Enabled: s.opts.Services.Faults != nil, Faults: []adminapi.Fault{}},
	}
	if s.opts.Dev {
		st.Mode = adminapi.Dev
	}
	if s.opts.Degraded != nil {
		st.Degraded = s.opts.Degraded()
	}
	if set := s.opts.Services.Dependencies; set != nil {
		for _, d := range set.All() {
			st.Dependencies = append(st.Dependencies, dependencyWire(d.Status()))
		}
	}
	if f := s.opts.Services.Faults; f != nil {
		st.Drills.Faults = faultsWire(f.List())
	}
	if s.opts.StatusSections != nil {
		s.opts.StatusSections(ctx, &st)
	}
	if Actor(ctx) == "" {
		redactStatus(&st)
	}
	return st
}

// redacted replaces who and why in a status read without an admin token
// or session: /v1/status stays open (probes, dashboards, the CLI without a
// token), audit data does not.
const redacted = "(admin token required)"

func redactStatus(st *adminapi.Status) {
	for i := range st.Dependencies {
		for _, o := range []*adminapi.Override{st.Dependencies[i].BreakerOverride, st.Dependencies[i].EndpointOverride} {
			if o != nil {
				o.Actor, o.Reason = redacted, redacted
			}
		}
	}
	for i := range st.Drills.Faults {
		if st.Drills.Faults[i].Actor != nil {
			a := redacted
			st.Drills.Faults[i].Actor = &a
		}
	}
}

// statusResponse writes the status indented and never cached.
type statusResponse adminapi.Status

func (r statusResponse) VisitGetStatusResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(adminapi.Status(r))
}

// dependencyWire is a dependency's row as the admin spec types it.
func dependencyWire(d resilience.DependencyStatus) adminapi.DependencyStatus {
	return adminapi.DependencyStatus{
		Name:             adminapi.DependencyStatusName(d.Name),
		Tier:             adminapi.DependencyStatusTier(d.Tier),
		Breaker:          adminapi.DependencyStatusBreaker(d.Breaker),
		BreakerMode:      adminapi.DependencyStatusBreakerMode(d.BreakerMode),
		BreakerOverride:  overrideWire(d.BreakerOverride),
		ActiveEndpoint:   adminapi.DependencyStatusActiveEndpoint(d.ActiveEndpoint),
		Endpoint:         d.Endpoint,
		EndpointOverride: overrideWire(d.EndpointOverride),
		Calls1m:          d.Calls1m,
		Failures1m:       d.Failures1m,
		FailureRate1m:    d.FailureRate1m,
		P50Ms:            d.P50ms,
		P99Ms:            d.P99ms,
		LastError:        d.LastError,
		LastErrorAt:      d.LastErrorAt,
		LastSuccessAt:    d.LastSuccessAt,
		ActiveFaults:     d.ActiveFaults,
		Auth:             adminapi.DependencyStatusAuth(d.Auth),
		Concurrency:      concurrencyWire(d.Concurrency),
	}
}

func concurrencyWire(c resilience.ConcurrencyStatus) *adminapi.Concurrency {
	return &adminapi.Concurrency{Mode: adminapi.ConcurrencyMode(c.Mode), Limit: c.Limit, Min: c.Min, Max: c.Max, Inflight: c.Inflight, Queued: c.Queued}
}

func overrideWire(o *resilience.Override) *adminapi.Override {
	if o == nil {
		return nil
	}
	return &adminapi.Override{Actor: o.Actor, Reason: o.Reason, At: o.At}
}
