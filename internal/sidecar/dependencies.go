package sidecar

import (
	"context"

	"github.com/holdline/holdline/internal/resilience"
)

// buildDependencies builds every upstream dependency once, each with its
// policies: the resilience set (from config.DependencyPolicies), then,
// through it, the CRM clients, the outbox on Redis (fleet mode),
// Dialogflow, the identity verifier and the recording store.
func (s *Sidecar) buildDependencies(ctx context.Context) error {
	if err := s.buildPolicies(); err != nil {
		return err
	}
	if err := s.buildCRM(); err != nil {
		return err
	}
	s.useRedisOutbox(ctx)
	for _, build := range []func(context.Context) error{
		s.buildDialogflow,
		s.buildIdentity,
		s.buildRecordingStore,
	} {
		if err := build(ctx); err != nil {
			return err
		}
	}
	return nil
}

// buildPolicies builds the resilience set: one policy chain per
// dependency, with drill faults when drills are enabled, and breaker
// changes logged and audited.
func (s *Sidecar) buildPolicies() error {
	if s.cfg.Drills.Enabled {
		s.faults = resilience.NewFaults(nil)
	}
	deps, err := resilience.NewSet(s.cfg.DependencyPolicies(), resilience.Options{
		Logger:          s.log,
		Registerer:      s.reg,
		AllowLoopback:   s.opts.Dev || s.opts.AllowLoopback,
		Faults:          s.faults,
		OnBreakerChange: s.breakerChanged,
		TracerProvider:  s.tracing.TracerProvider(),
		Propagator:      s.tracing.Propagator(),
	})
	if err != nil {
		return err
	}
	s.deps = deps
	s.closers = append(s.closers, func() error { deps.CloseIdleConnections(); return nil })
	return nil
}

// breakerChanged logs and audits a breaker's change of state.
func (s *Sidecar) breakerChanged(dep, from, to string) {
	s.log.Warn("breaker changed", "dependency", dep, "from", from, "to", to)
	s.audit.Record(context.Background(), "system", "breaker.state", dep, "", "ok", map[string]any{"from": from, "to": to})
}
