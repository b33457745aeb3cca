package crm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/holdline/holdline/adapters/crm/crmtest"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/upstream"
)

func TestZendeskBasicAuthUsesTokenLogin(t *testing.T) {
	t.Parallel()
	fake := &customCRM{answers: map[string]string{"/api/v2/users/search.json?query=phone%3A14155550100": `{"users":[]}`}}
	srv := fake.start(t)
	cfg := crmConfig("zendesk")
	cfg.Auth = config.CRMAuth{Type: "basic", Username: "agent@example.com", Secret: "t"}
	if _, err := newClient(t, cfg, srv).FindByPhone(t.Context(), "+14155550100"); err != nil {
		t.Fatal(err)
	}
	if u, _, _ := fake.got[0].BasicAuth(); u != "agent@example.com/token" {
		t.Errorf("basic auth user = %q, want agent@example.com/token", u)
	}
}

func TestZendeskRateLimitIsA429WithRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 10, 0, 50, 0, time.UTC)
	_, srv := startSim(t, sim.CRMOptions{ZendeskPerMinute: 1, Now: func() time.Time { return now }})
	c := newClient(t, crmConfig("zendesk"), srv)
	if _, err := c.FindByPhone(t.Context(), crmtest.UnknownPhone); err != nil {
		t.Fatalf("FindByPhone within the limit error = %v", err)
	}
	_, err := c.FindByPhone(t.Context(), crmtest.UnknownPhone)
	se, ok := errors.AsType[*upstream.StatusError](err)
	if !ok || se.Code != 429 || se.RetryAfter != 10*time.Second || upstream.IsPermanent(err) {
		t.Errorf("FindByPhone past the limit error = %v, want a transient 429 with Retry-After 10s", err)
	}
}

func TestZendeskCallerStoredInE164PopsAsKnown(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t, sim.CRMOptions{Empty: true})
	ct := s.AddContact(sim.CRMContact{Name: "Lin", Phone: "+81312345678"})
	got, err := newClient(t, crmConfig("zendesk"), srv).FindByPhone(t.Context(), "+81312345678")
	if err != nil || got.Contact == nil || got.Contact.ID != ct.ID {
		t.Fatalf("FindByPhone of a caller stored in E.164 = %+v, %v; want contact %s", got, err, ct.ID)
	}
}
