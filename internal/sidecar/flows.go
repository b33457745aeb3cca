package sidecar

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/outbox"
)

// buildFlows builds the HTTP-free flows over the dependencies: the screen
// pop, the interaction records and writes, and recording capture; then
// the outbox dispatcher that runs the job handlers of all of them.
func (s *Sidecar) buildFlows(ctx context.Context) error {
	if err := s.buildScreenPop(); err != nil {
		return err
	}
	j, cfg := s.jobs, s.cfg.Dependencies.CRM
	crmDep := s.deps.Get("crm")
	records, err := interactions.NewRecords(j.store, interactions.Endpoints{
		Clients: s.crmEndpoints, Active: crmDep.ActiveEndpoint, SharedRecords: cfg.SharedRecords,
	}, crmDep)
	if err != nil {
		return err
	}
	rec, err := s.buildRecordings(ctx)
	if err != nil {
		return err
	}
	handlers, err := mergeHandlers(interactions.Handlers(records), rec.Handlers(records, crmDep))
	if err != nil {
		return err
	}
	svc := interactions.New(j, j.store, crmDep, interactions.Options{WriteBudget: s.cfg.Outbox.WriteBudget.D(), Records: records})
	if err := s.bindDispatcher(handlers, svc); err != nil {
		return err
	}
	s.interactions, s.recordings = svc, rec
	return nil
}

// mergeHandlers joins the job handlers of several flows; a kind two flows
// handle is an error.
func mergeHandlers(sets ...map[string]outbox.Handler) (map[string]outbox.Handler, error) {
	out := map[string]outbox.Handler{}
	for _, set := range sets {
		for _, kind := range slices.Sorted(maps.Keys(set)) {
			if _, dup := out[kind]; dup {
				return nil, fmt.Errorf("sidecar: two flows handle outbox job kind %q", kind)
			}
			out[kind] = set[kind]
		}
	}
	return out, nil
}
