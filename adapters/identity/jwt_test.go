package identity_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

func TestIdPVerifyValidJWT(t *testing.T) {
	e := newEnv(t)
	exp := e.clock.Now().Add(time.Hour)
	tok := e.mint(t, "agent-7", sim.MintExpiresAt(exp), sim.MintScopes("crm.read", "crm.write"))

	got := e.verify(t, tok)
	want := authn.Verdict{
		Active:    true,
		Subject:   "agent-7",
		ExpiresAt: exp,
		Scopes:    []string{"crm.read", "crm.write"},
		Source:    authn.SourceJWT,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(authn.Verdict{}, "Claims"), cmpopts.EquateApproxTime(time.Second)); diff != "" {
		t.Errorf("Verify(valid) mismatch (-want +got):\n%s", diff)
	}
	if got.Claims["iss"] != e.idp.Issuer() || got.Claims["sub"] != "agent-7" {
		t.Errorf("Verify(valid).Claims = %v, want iss and sub", got.Claims)
	}
	// Verified again on the cached keys: no more provider calls.
	e.verify(t, tok)
	if d, j := e.idp.Hit(sim.IdPDiscovery), e.idp.Hit(sim.IdPJWKS); d != 1 || j != 1 {
		t.Errorf("provider hits: discovery %d, jwks %d; want 1 and 1", d, j)
	}
}

func TestIdPTokenTypes(t *testing.T) {
	tests := []struct {
		name   string
		types  []string // nil: the default
		typ    string
		active bool
	}{
		{"at+jwt by default", nil, "at+jwt", true},
		{"application/at+jwt by default", nil, "application/at+jwt", true},
		{"case-insensitive", nil, "AT+JWT", true},
		{"JWT refused by default", nil, "JWT", false},
		{"no typ refused by default", nil, "", false},
		{"JWT opted in", []string{"at+jwt", "JWT"}, "JWT", true},
		{"no typ with JWT opted in", []string{"at+jwt", "JWT"}, "", true},
		{"dpop+jwt never", []string{"at+jwt", "JWT"}, "dpop+jwt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *envConfig) {
				if tt.types != nil {
					c.cfg.TokenTypes = tt.types
				}
			})
			got := e.verify(t, e.mint(t, "agent", sim.MintType(tt.typ)))
			if got.Active != tt.active {
				t.Errorf("Verify(typ %q, token_types %v) = active %v %v, want %v", tt.typ, tt.types, got.Active, got.Reasons, tt.active)
			}
		})
	}
}

// TestIdPIssuerTrailingSlash: an issuer configured with a trailing slash
// the provider does not use is taken in the discovery document's form, so
// tokens verify; iss is then compared exactly.
func TestIdPIssuerTrailingSlash(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.cfg.Issuer += "/" })
	if got := e.verify(t, e.mint(t, "agent")); !got.Active {
		t.Fatalf("Verify(issuer configured with a trailing slash) = inactive %v, want active", got.Reasons)
	}
	if got := e.verify(t, e.mint(t, "agent", sim.MintIssuer(e.idp.Issuer()+"/"))); got.Active || !cmp.Equal(got.Reasons, []string{"wrong issuer"}) {
		t.Errorf("Verify(iss with a trailing slash) = %+v, want inactive, wrong issuer", got)
	}
	if got := e.v.Status().Issuer; got != e.idp.Issuer() {
		t.Errorf("Status().Issuer = %q, want the discovery form %q", got, e.idp.Issuer())
	}
}

func TestIdPVerifyES256(t *testing.T) {
	e := newEnv(t, func(c *envConfig) {
		c.idp.Alg = "ES256"
		c.cfg.Algorithms = []string{"ES256"}
	})
	if got := e.verify(t, e.mint(t, "agent-ec")); !got.Active {
		t.Errorf("Verify(ES256 token) = inactive %v, want active", got.Reasons)
	}
}

func TestIdPVerifyRejects(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	good := e.mint(t, "agent")

	tests := []struct {
		name  string
		token func() string
		want  string
	}{
		{"expired past leeway", func() string {
			return e.mint(t, "a", sim.MintIssuedAt(now.Add(-2*time.Hour)), sim.MintExpiresAt(now.Add(-time.Minute)))
		}, "token expired"},
		{"not yet valid", func() string { return e.mint(t, "a", sim.MintNotBefore(now.Add(5*time.Minute))) }, "token not yet valid"},
		{"issued in the future", func() string { return e.mint(t, "a", sim.MintIssuedAt(now.Add(10*time.Minute))) }, "token issued in the future"},
		{"wrong audience", func() string { return e.mint(t, "a", sim.MintAudience("billing")) }, "wrong audience"},
		{"wrong issuer", func() string { return e.mint(t, "a", sim.MintIssuer("https://evil.example")) }, "wrong issuer"},
		{"no exp", func() string { return e.mint(t, "a", sim.MintNoExpiry()) }, "token has no exp"},
		{"tampered payload", func() string { return tamper(t, good) }, "invalid signature"},
		{"tampered signature", func() string { return good[:len(good)-6] + flip(good[len(good)-6:]) }, "invalid signature"},
		{"alg none", func() string { return e.mint(t, "a", sim.MintAlg("none")) }, "algorithm none refused"},
		{"HS256 keyed with the public key", func() string { return e.mint(t, "a", sim.MintAlg("HS256")) }, "algorithm HS256 not allowed"},
		{"typ JWT (an ID token's shape)", func() string { return e.mint(t, "a", sim.MintType("JWT")) }, `token type "JWT" is not an accepted access token type (identity.token_types)`},
		{"no typ", func() string { return e.mint(t, "a", sim.MintType("")) }, `token type "" is not an accepted access token type (identity.token_types)`},
		{"issuer with a trailing slash the provider does not use", func() string { return e.mint(t, "a", sim.MintIssuer(e.idp.Issuer()+"/")) }, "wrong issuer"},
		{"malformed header", func() string { return "abc.def.ghi" }, "malformed token"},
		{"empty", func() string { return "" }, "empty token"},
		{"too long", func() string { return strings.Repeat("a", 20<<10) }, "token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.verify(t, tt.token())
			want := authn.Verdict{Source: authn.SourceJWT, Reasons: []string{tt.want}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Verify mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("within leeway", func(t *testing.T) {
		tok := e.mint(t, "a", sim.MintIssuedAt(now.Add(-time.Hour)), sim.MintExpiresAt(now.Add(-10*time.Second)))
		if got := e.verify(t, tok); !got.Active {
			t.Errorf("Verify(expired 10s ago, leeway 30s) = inactive %v, want active", got.Reasons)
		}
	})
}

// tamper changes the subject in the payload and keeps the signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), `"sub":"agent"`, `"sub":"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestIdPUnknownKidThenRotation(t *testing.T) {
	e := newEnv(t)
	if got := e.verify(t, e.mint(t, "before")); !got.Active {
		t.Fatalf("Verify(before rotation) = inactive %v", got.Reasons)
	}
	e.idp.RotateKey()
	rotated := e.mint(t, "after")
	if got := e.verify(t, rotated); !got.Active {
		t.Fatalf("Verify(after rotation) = inactive %v, want active after one JWKS refetch", got.Reasons)
	}
	if got := e.verify(t, rotated); !got.Active {
		t.Fatalf("Verify(after rotation, again) = inactive %v", got.Reasons)
	}
	if got := e.idp.Hit(sim.IdPJWKS); got != 2 {
		t.Errorf("JWKS hits = %d, want 2 (initial fetch + one refetch for the new kid)", got)
	}
}

func TestIdPRandomKidFloodIsBounded(t *testing.T) {
	e := newEnv(t)
	if got := e.verify(t, e.mint(t, "warm")); !got.Active {
		t.Fatalf("warm-up Verify = inactive %v", got.Reasons)
	}
	tokens := make([]string, 200)
	for i := range tokens {
		tokens[i] = e.mint(t, "attacker", sim.MintKID(fmt.Sprintf("kid-%d", i)))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var active int
	for _, tok := range tokens {
		wg.Go(func() {
			if e.verify(t, tok).Active {
				mu.Lock()
				active++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if active != 0 {
		t.Errorf("%d tokens with unknown kids were active, want 0", active)
	}
	if got := e.idp.Hit(sim.IdPJWKS); got > 2 {
		t.Errorf("JWKS hits after a flood of 200 random kids = %d, want at most 2", got)
	}
	// Sequential floods inside the window cost nothing more.
	for i := range 50 {
		e.verify(t, e.mint(t, "attacker", sim.MintKID(fmt.Sprintf("later-%d", i))))
	}
	if got := e.idp.Hit(sim.IdPJWKS); got > 2 {
		t.Errorf("JWKS hits after 50 more random kids = %d, want at most 2", got)
	}
	// Past JWKSMinRefresh a real rotation is picked up again.
	e.clock.Advance(11 * time.Second)
	e.idp.RotateKey()
	if got := e.verify(t, e.mint(t, "rotated")); !got.Active {
		t.Errorf("Verify(rotated key, after the limit window) = inactive %v", got.Reasons)
	}
}

func TestIdPProviderDownServesCachedKeysUntilMaxStale(t *testing.T) {
	e := newEnv(t)
	exp := sim.MintExpiresAt(e.clock.Now().Add(72 * time.Hour))
	if got := e.verify(t, e.mint(t, "warm", exp)); !got.Active {
		t.Fatalf("warm-up Verify = inactive %v", got.Reasons)
	}
	if err := e.idp.SetMode(sim.IdPModeDown); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	if err := e.v.Refresh(t.Context()); err == nil {
		t.Fatalf("Refresh with the provider down = nil, want an error")
	}

	got := e.verify(t, e.mint(t, "during-outage", exp))
	if !got.Active || !got.Degraded || got.Source != authn.SourceJWT || len(got.Reasons) != 1 ||
		!strings.Contains(got.Reasons[0], "cached signing keys 2h0m0s old") {
		t.Errorf("Verify(provider down, keys 2h old) = %+v, want active, degraded, with a reason", got)
	}

	e.clock.Advance(23 * time.Hour) // 25h: past max_stale (24h)
	got = e.verify(t, e.mint(t, "too-late", exp))
	if got.Active || len(got.Reasons) != 1 || !strings.Contains(got.Reasons[0], "past max_stale") {
		t.Errorf("Verify(provider down, keys 25h old) = %+v, want inactive past max_stale", got)
	}

	if err := e.idp.SetMode(sim.IdPModeOK); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Second)
	got = e.verify(t, e.mint(t, "recovered", exp))
	if !got.Active || got.Degraded {
		t.Errorf("Verify(provider back) = %+v, want active, not degraded", got)
	}
}

func TestIdPColdStartWithProviderDown(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.idp.Mode = sim.IdPMode503 })
	tok := e.mint(t, "agent")
	for range 20 {
		got := e.verify(t, tok)
		if got.Active || len(got.Reasons) != 1 || !strings.HasPrefix(got.Reasons[0], "signing keys unavailable: identity: http 503") {
			t.Fatalf("Verify(no keys, provider 503) = %+v, want inactive with a reason", got)
		}
	}
	if got := e.idp.Hit(sim.IdPDiscovery); got != 1 {
		t.Errorf("discovery hits after 20 verifications = %d, want 1 (rate-limited)", got)
	}
}

func TestIdPLogsNeverHoldTokens(t *testing.T) {
	e := newEnv(t)
	jwt := e.mint(t, "agent")
	opaque := e.idp.MintOpaque("agent")
	e.verify(t, jwt)
	e.verify(t, opaque)
	if err := e.idp.SetMode(sim.IdPModeDown); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	_ = e.v.Refresh(t.Context())
	e.verify(t, jwt)
	e.verify(t, opaque)
	e.verify(t, e.idp.MintOpaque("other"))
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("no logs captured; the test would prove nothing")
	}
	for _, secret := range []string{jwt, opaque, strings.Split(jwt, ".")[2], "holdline-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain token material %.12q...:\n%s", secret, logs)
		}
	}
}

func TestIdPHangingProviderStaysWithinBudget(t *testing.T) {
	// The budget is far below the policy timeout, and far above what a
	// loaded machine needs for the warm-up; a verification that waited
	// for the hang would take the whole minute.
	const budget = 2 * time.Second
	e := newEnv(t, func(c *envConfig) {
		c.cfg.Budget = config.Duration(budget)
		c.deps = func(d *config.Dependencies) { d.Identity.Timeout = config.Duration(time.Minute) }
	})
	known := e.mint(t, "warm")
	if got := e.verify(t, known); !got.Active {
		t.Fatalf("warm-up Verify = inactive %v", got.Reasons)
	}
	if err := e.idp.SetMode(sim.IdPModeHang); err != nil {
		t.Fatal(err)
	}
	e.idp.RotateKey()
	rotated := e.mint(t, "rotated") // its kid needs a JWKS fetch, which hangs

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			start := time.Now()
			got := e.verify(t, rotated)
			if took := time.Since(start); took > 15*budget {
				t.Errorf("Verify(unknown kid, provider hanging) took %v: it waited for the hang, not for its %v budget", took, budget)
			}
			if got.Active {
				t.Errorf("Verify(unknown kid, provider hanging) = active, want inactive")
			}
		})
	}
	wg.Wait()
	// Known keys keep verifying without waiting on the provider.
	start := time.Now()
	if got := e.verify(t, known); !got.Active {
		t.Errorf("Verify(known kid, provider hanging) = inactive %v, want active", got.Reasons)
	}
	if took := time.Since(start); took >= budget {
		t.Errorf("Verify(known kid, provider hanging) took %v, the whole budget: it waited on the provider", took)
	}
}
