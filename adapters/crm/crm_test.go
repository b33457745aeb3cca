package crm_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/adapters/crm/crmtest"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/upstream"
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

func TestAuth(t *testing.T) {
	t.Parallel()
	const token = "tok-123"
	tests := []struct {
		kind string
		auth config.CRMAuth
		ok   bool
	}{
		{"generic", config.CRMAuth{Type: "header", Header: "X-Api-Key", Secret: token}, true},
		{"generic", config.CRMAuth{Type: "bearer", Secret: token}, true},
		{"generic", config.CRMAuth{Type: "basic", Username: "u", Secret: token}, true},
		{"generic", config.CRMAuth{Type: "bearer", Secret: "wrong"}, false},
		{"generic", config.CRMAuth{Type: "none"}, false},
		{"salesforce", config.CRMAuth{Type: "bearer", Secret: token}, true},
		{"salesforce", config.CRMAuth{Type: "bearer", Secret: "expired"}, false},
		{"zendesk", config.CRMAuth{Type: "basic", Username: "agent@example.com", Secret: token}, true},
		{"zendesk", config.CRMAuth{Type: "bearer", Secret: token}, true},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.auth.Type+"/"+tt.auth.Secret.Reveal(), func(t *testing.T) {
			t.Parallel()
			_, srv := startSim(t, sim.CRMOptions{Token: token})
			cfg := crmConfig(tt.kind)
			cfg.Auth = tt.auth
			_, err := newClient(t, cfg, srv).FindByPhone(t.Context(), "+14155550100")
			se, is401 := errors.AsType[*upstream.StatusError](err)
			switch {
			case tt.ok && err != nil:
				t.Errorf("FindByPhone error = %v, want success", err)
			case !tt.ok && (!is401 || se.Code != http.StatusUnauthorized):
				t.Errorf("FindByPhone error = %v, want StatusError 401", err)
			}
		})
	}
}

func TestEndpointIsReadPerCall(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			primary, psrv := startSim(t, sim.CRMOptions{})
			secondary, ssrv := startSim(t, sim.CRMOptions{})
			active := psrv.URL
			c, err := crm.New(crmConfig(kind), http.DefaultClient, func() string { return active })
			if err != nil {
				t.Fatal(err)
			}
			for _, url := range []string{psrv.URL, ssrv.URL} {
				active = url
				if _, err := c.FindByPhone(t.Context(), "+14155550100"); err != nil {
					t.Fatalf("FindByPhone via %s error = %v", url, err)
				}
			}
			if p, s := total(primary.Hits()), total(secondary.Hits()); p == 0 || s == 0 {
				t.Errorf("hits primary=%d secondary=%d, want both > 0 after failover", p, s)
			}
		})
	}
}

func total(h map[string]int64) (n int64) {
	for _, v := range h {
		n += v
	}
	return n
}

func TestErrorsDoNotLeakPhoneOrSecret(t *testing.T) {
	t.Parallel()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			_, srv := startSim(t, sim.CRMOptions{})
			srv.Close() // connection refused from now on
			cfg := crmConfig(kind)
			cfg.Auth = config.CRMAuth{Type: "bearer", Secret: "sekrit-token"}
			_, err := newClient(t, cfg, srv).FindByPhone(t.Context(), "+14155550100")
			if err == nil {
				t.Fatal("FindByPhone against a closed server succeeded")
			}
			// The host may show (operators need it); the number and token never.
			for _, leak := range []string{"4155550100", "sekrit-token"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q contains %q", err, leak)
				}
			}
		})
	}
}

func BenchmarkFindByPhone(b *testing.B) {
	_, srv := startSim(b, sim.CRMOptions{})
	c, err := crm.New(crmConfig("generic"), srv.Client(), func() string { return srv.URL })
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		l, err := c.FindByPhone(ctx, "+14155550100")
		if err != nil || l.Contact == nil {
			b.Fatalf("FindByPhone = %+v, %v", l, err)
		}
	}
}
