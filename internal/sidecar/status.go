package sidecar

import (
	"context"
	"time"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/resilience"
)

// statusExtras are the sections /v1/status adds to the gateway's own.
func (s *Sidecar) statusExtras(faults *resilience.Faults, df *dialogflow.Client) map[string]func(context.Context) any {
	extras := map[string]func(context.Context) any{
		"dependencies": func(context.Context) any {
			out := make([]resilience.DependencyStatus, 0, len(s.deps.All()))
			for _, d := range s.deps.All() {
				out = append(out, d.Status())
			}
			return out
		},
		"outbox": func(ctx context.Context) any {
			if s.jobs == nil {
				return nil
			}
			return s.jobs.status(ctx, time.Now())
		},
		"spool": func(ctx context.Context) any {
			if s.jobs == nil {
				return nil
			}
			return s.jobs.spoolStatus(ctx, time.Now())
		},
		"drills": func(context.Context) any {
			active := []resilience.Fault{}
			if faults != nil {
				active = faults.List()
			}
			return map[string]any{"enabled": faults != nil, "faults": active}
		},
	}
	if s.identity != nil {
		extras["identity"] = func(context.Context) any { return s.identity.Status() }
	}
	if s.crm != nil {
		extras["crm"] = s.crmStatus
	}
	if df != nil {
		extras["dialogflow"] = func(context.Context) any { return map[string]any{"agents": df.Agents()} }
	}
	return extras
}

// degraded reports whether any dependency is not healthy (a breaker open,
// half-open or forced, or a drill fault active), dead outbox jobs wait
// for an operator, the spool is full, or identity verifies with keys the
// provider has not confirmed (or has none).
func (s *Sidecar) degraded() bool {
	if s.identity != nil && s.identity.Degraded() {
		return true
	}
	if s.jobs != nil && (s.jobs.deadJobs(context.Background()) || s.jobs.backend != s.cfg.Outbox.Backend || s.jobs.spoolFull()) {
		return true // dead jobs wait for a person, fleet mode fell back to local, or the spool refuses recordings
	}
	for _, d := range s.deps.All() {
		st := d.Status()
		if st.Breaker != "closed" || st.BreakerMode != "auto" || st.ActiveFaults > 0 {
			return true
		}
	}
	return false
}
