package sidecar

import (
	"context"

	"github.com/holdline/holdline/adapters/crm"
)

// crmClient returns the CRM adapter, built once on first use (the screen
// pop, the outbox handlers and the recording flow share it), with its API
// usage gauges registered when the CRM reports usage (Salesforce).
func (s *Sidecar) crmClient() (crm.Client, error) {
	if s.crm != nil {
		return s.crm, nil
	}
	dep := s.deps.Get("crm")
	c, err := crm.New(s.cfg.Dependencies.CRM, dep.HTTPClient(), dep.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := crm.RegisterUsage(s.reg, c); err != nil {
		return nil, err
	}
	s.crm = c
	return c, nil
}

// crmStatus is the "crm" section of /v1/status: the kind and, when the CRM
// reports it, its daily API usage (used, limit, remaining, at).
func (s *Sidecar) crmStatus(context.Context) any {
	out := map[string]any{"kind": s.cfg.Dependencies.CRM.Kind}
	if u, ok := s.crm.(crm.UsageReporter); ok {
		if usage, ok := u.APIUsage(); ok {
			out["api_usage"] = map[string]any{"used": usage.Used, "limit": usage.Limit,
				"remaining": usage.Remaining(), "at": usage.At}
		}
	}
	return out
}
