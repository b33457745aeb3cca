package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
)

// newIdentityPlanes serves the real identity Verifier against the IdP
// simulator on 127.0.0.1.
func newIdentityPlanes(t *testing.T) (*planes, *sim.IdP) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	idp := sim.NewIdP(sim.IdPOptions{Issuer: issuer})
	srv.Config.Handler = idp.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	deps := config.Default().Dependencies
	deps.Identity.Endpoints.Primary = issuer
	set, err := resilience.NewSet(deps, resilience.Options{AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Identity
	cfg.Issuer, cfg.Audience = issuer, "holdline"
	cfg.ClientID, cfg.ClientSecret = idp.ClientID(), config.Secret(idp.ClientSecret())
	v, err := identity.New(cfg, set.Get("identity"), identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return newPlanes(t, func(o *Options) {
		o.Services.Identity = v
		o.MaxBodyBytes = 64 << 10 // a JWT is larger than the test default
	}), idp
}

func TestVerifyToken(t *testing.T) {
	p, idp := newIdentityPlanes(t)
	url := p.data.URL + "/v1/identity/verify"
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	jwt, err := idp.Mint("agent-9", sim.MintExpiresAt(exp), sim.MintScopes("crm.read"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := idp.Mint("agent-9", sim.MintAudience("billing"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		token string
		want  map[string]any
	}{
		{"valid jwt", jwt, map[string]any{
			"active": true, "subject": "agent-9", "expires_at": exp.Format(time.RFC3339),
			"scopes": []any{"crm.read"}, "source": "jwt", "degraded": false, "reasons": []any{},
		}},
		{"jwt for another audience", other, map[string]any{
			"active": false, "source": "jwt", "degraded": false, "reasons": []any{"wrong audience"},
		}},
		{"opaque token", idp.MintOpaque("agent-9", sim.MintExpiresAt(exp)), map[string]any{
			"active": true, "subject": "agent-9", "expires_at": exp.Format(time.RFC3339),
			"source": "introspection", "degraded": false, "reasons": []any{},
		}},
		{"unknown opaque token", "op_unknown", map[string]any{
			"active": false, "source": "introspection", "degraded": false, "reasons": []any{"token inactive"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "POST", url, "application/json", `{"token":"`+tt.token+`"}`, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /v1/identity/verify = %d %s, want 200", resp.StatusCode, body)
			}
			got := decode(t, body)
			delete(got, "claims")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("empty token", func(t *testing.T) {
		resp, body := do(t, "POST", url, "application/json", `{"token":""}`, nil)
		if got := decode(t, body); resp.StatusCode != http.StatusBadRequest || got["field"] != "token" {
			t.Errorf("POST empty token = %d %s, want 400 naming token", resp.StatusCode, body)
		}
	})
	t.Run("claims returned", func(t *testing.T) {
		_, body := do(t, "POST", url, "application/json", `{"token":"`+jwt+`"}`, nil)
		claims, _ := decode(t, body)["claims"].(map[string]any)
		if claims["sub"] != "agent-9" || claims["iss"] != idp.Issuer() {
			t.Errorf("claims = %v, want sub and iss", claims)
		}
	})
}

func TestVerifyTokenNotConfigured(t *testing.T) {
	p := newPlanes(t, nil)
	resp, body := do(t, "POST", p.data.URL+"/v1/identity/verify", "application/json", `{"token":"x"}`, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST /v1/identity/verify without identity = %d %s, want 503", resp.StatusCode, body)
	}
}
