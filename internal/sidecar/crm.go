package sidecar

import (
	"context"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/interactions"
)

// buildCRM builds the CRM adapters once: one per configured endpoint,
// each bound to its endpoint's URL (writes follow their record, not the
// active endpoint, see interactions.Records), and s.crm, which sends each
// call to the client of the endpoint active at that moment (the screen
// pop, and the Salesforce API usage gauges).
func (s *Sidecar) buildCRM() error {
	cfg := s.cfg.Dependencies.CRM
	dep := s.deps.Get("crm")
	clients := map[string]crm.Client{}
	for name, url := range map[string]string{interactions.Primary: cfg.Endpoints.Primary, interactions.Secondary: cfg.Endpoints.Secondary} {
		if url == "" {
			continue
		}
		c, err := crm.New(cfg, dep.HTTPClient(), func() string { return url })
		if err != nil {
			return err
		}
		clients[name] = c
	}
	active := &activeCRM{clients: clients, active: dep.ActiveEndpoint}
	if _, ok := clients[interactions.Primary].(crm.UsageReporter); ok {
		if err := crm.RegisterUsage(s.reg, active); err != nil {
			return err
		}
	}
	s.crmEndpoints, s.crm = clients, active
	return nil
}

// activeCRM is the CRM as seen from the active endpoint: every call goes
// to the client of the endpoint the crm dependency names active when it
// is made, so a failover applies to the next call. It is safe for
// concurrent use.
type activeCRM struct {
	clients map[string]crm.Client // by endpoint name; never written after buildCRM
	active  func() string         // (*resilience.Dependency).ActiveEndpoint
}

var (
	_ crm.Client        = (*activeCRM)(nil)
	_ crm.UsageReporter = (*activeCRM)(nil)
)

// client returns the active endpoint's client; the primary's when the
// active one has none (Check refuses a secondary without a primary).
func (a *activeCRM) client() crm.Client {
	if c, ok := a.clients[a.active()]; ok {
		return c
	}
	return a.clients[interactions.Primary]
}

func (a *activeCRM) FindByPhone(ctx context.Context, e164 string) (crm.Lookup, error) {
	return a.client().FindByPhone(ctx, e164)
}

func (a *activeCRM) CreateRecord(ctx context.Context, in crm.NewRecord, idemKey string) (string, error) {
	return a.client().CreateRecord(ctx, in, idemKey)
}

func (a *activeCRM) AddComment(ctx context.Context, recordID string, c crm.Comment, idemKey string) (string, error) {
	return a.client().AddComment(ctx, recordID, c, idemKey)
}

func (a *activeCRM) AttachFile(ctx context.Context, recordID string, at crm.Attachment, idemKey string) (string, error) {
	return a.client().AttachFile(ctx, recordID, at, idemKey)
}

// APIUsage is the active endpoint's last reported API usage, when its CRM
// reports usage (Salesforce).
func (a *activeCRM) APIUsage() (crm.APIUsage, bool) {
	if u, ok := a.client().(crm.UsageReporter); ok {
		return u.APIUsage()
	}
	return crm.APIUsage{}, false
}
