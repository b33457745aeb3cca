package sidecar

import (
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
