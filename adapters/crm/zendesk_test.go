package crm_test

import (
	"testing"

	"github.com/holdline/holdline/internal/config"
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
