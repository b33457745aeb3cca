package crm_test

import (
	"net/http/httptest"
	"testing"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/adapters/crm/crmtest"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

var kinds = []string{"generic", "salesforce", "zendesk"}

// startSim serves a fresh simulator on 127.0.0.1 for the test.
func startSim(t testing.TB, opts sim.CRMOptions) (*sim.CRM, *httptest.Server) {
	t.Helper()
	s := sim.NewCRM(opts)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

// crmConfig is the default CRM config of a kind.
func crmConfig(kind string) config.CRM {
	cfg := config.Default().Dependencies.CRM
	cfg.Kind = kind
	return cfg
}

func newClient(t testing.TB, cfg config.CRM, srv *httptest.Server) crm.Client {
	t.Helper()
	c, err := crm.New(cfg, srv.Client(), func() string { return srv.URL })
	if err != nil {
		t.Fatalf("crm.New(%s) error = %v", cfg.Kind, err)
	}
	return c
}

func TestContract(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			crmtest.Run(t, func(t *testing.T) (crm.Client, *sim.CRM) {
				s, srv := startSim(t, sim.CRMOptions{})
				return newClient(t, crmConfig(kind), srv), s
			})
		})
	}
}
