package identity_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

func TestIdPOpaqueTokenIntrospectedThenCached(t *testing.T) {
	e := newEnv(t)
	exp := e.clock.Now().Add(time.Hour)
	tok := e.idp.MintOpaque("agent-3", sim.MintExpiresAt(exp), sim.MintScopes("screenpop"))

	want := authn.Verdict{Active: true, Subject: "agent-3", ExpiresAt: exp, Scopes: []string{"screenpop"}, Source: authn.SourceIntrospection}
	opts := []cmp.Option{cmpopts.IgnoreFields(authn.Verdict{}, "Claims"), cmpopts.EquateApproxTime(time.Second)}
	got := e.verify(t, tok)
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("Verify(opaque) mismatch (-want +got):\n%s", diff)
	}
	if got.Claims["client_id"] != "holdline" {
		t.Errorf("Verify(opaque).Claims = %v, want the introspection answer", got.Claims)
	}

	// A cached positive answer makes no call to the provider, even after
	// revocation (through the provider's RFC 7009 endpoint), until
	// identity.introspection.max_positive_ttl (30s).
	revoke(t, e, tok)
	e.clock.Advance(29 * time.Second)
	want.Source = authn.SourceCache
	if diff := cmp.Diff(want, e.verify(t, tok), opts...); diff != "" {
		t.Errorf("Verify(opaque, cached) mismatch (-want +got):\n%s", diff)
	}
	if got := e.idp.Hit(sim.IdPIntrospect); got != 1 {
		t.Errorf("introspection hits = %d, want 1: a cached positive answer must not call the provider", got)
	}

	// Past max_positive_ttl the provider is asked again and the
	// revocation is seen.
	e.clock.Advance(2 * time.Second)
	got = e.verify(t, tok)
	if got.Active || got.Degraded || got.Source != authn.SourceIntrospection {
		t.Errorf("Verify(revoked, past max_positive_ttl) = %+v, want inactive from introspection", got)
	}
	if got := e.idp.Hit(sim.IdPIntrospect); got != 2 {
		t.Errorf("introspection hits = %d, want 2", got)
	}
}

// revoke revokes tok through the IdP's RFC 7009 endpoint over HTTP.
func revoke(t *testing.T, e *env, tok string) {
	t.Helper()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.idp.Issuer()+"/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.idp.ClientID(), e.idp.ClientSecret())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /revoke: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /revoke = %d, want 200", resp.StatusCode)
	}
}

func TestIdPOpaquePositiveTTLNeverPastExp(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.cfg.Introspection.MaxPositiveTTL = config.Duration(10 * time.Minute) })
	tok := e.idp.MintOpaque("agent", sim.MintExpiresAt(e.clock.Now().Add(time.Minute)))
	if got := e.verify(t, tok); !got.Active {
		t.Fatalf("Verify(opaque) = inactive %v", got.Reasons)
	}
	e.clock.Advance(61 * time.Second) // past exp, well within max_positive_ttl
	if got := e.verify(t, tok); got.Active {
		t.Errorf("Verify(opaque past its exp) = active from %s, want inactive", got.Source)
	}
	if got := e.idp.Hit(sim.IdPIntrospect); got != 2 {
		t.Errorf("introspection hits = %d, want 2: the cached answer ends at the token's exp", got)
	}
}

func TestIdPOpaqueCacheIsBoundedAndReported(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.cfg.Introspection.MaxEntries = 10 })
	for i := range 50 {
		e.verify(t, fmt.Sprintf("op_unknown_%d", i))
	}
	st := e.v.Status().Introspection
	want := identity.IntrospectionStatus{CacheEntries: st.CacheEntries, MaxEntries: 10, MaxPositiveTTL: "30s", MaxNegativeTTL: "10s"}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Status().Introspection mismatch (-want +got):\n%s", diff)
	}
	if st.CacheEntries < 1 || st.CacheEntries > 10 {
		t.Errorf("introspection cache holds %d answers after 50 tokens, want 1..10", st.CacheEntries)
	}
}

func TestIdPOpaqueNegativeCaching(t *testing.T) {
	e := newEnv(t)
	const unknown = "op_never_issued"
	want := authn.Verdict{Source: authn.SourceIntrospection, Reasons: []string{"token inactive"}}
	if diff := cmp.Diff(want, e.verify(t, unknown)); diff != "" {
		t.Errorf("Verify(unknown opaque) mismatch (-want +got):\n%s", diff)
	}
	want.Source = authn.SourceCache
	if diff := cmp.Diff(want, e.verify(t, unknown)); diff != "" {
		t.Errorf("Verify(unknown opaque, again) mismatch (-want +got):\n%s", diff)
	}
	if got := e.idp.Hit(sim.IdPIntrospect); got != 1 {
		t.Errorf("introspection hits = %d, want 1 (negative answer cached)", got)
	}
	e.clock.Advance(11 * time.Second) // past max_negative_ttl (10s)
	e.verify(t, unknown)
	if got := e.idp.Hit(sim.IdPIntrospect); got != 2 {
		t.Errorf("introspection hits after NegativeTTL = %d, want 2", got)
	}
}

func TestIdPOpaqueDuringOutage(t *testing.T) {
	e := newEnv(t)
	exp := e.clock.Now().Add(time.Hour)
	seen := e.idp.MintOpaque("seen", sim.MintExpiresAt(exp))
	never := e.idp.MintOpaque("never-seen", sim.MintExpiresAt(exp))
	if got := e.verify(t, seen); !got.Active {
		t.Fatalf("Verify(seen) = inactive %v", got.Reasons)
	}
	if err := e.idp.SetMode(sim.IdPMode503); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Minute) // past MaxPositiveTTL, before exp

	got := e.verify(t, seen)
	want := authn.Verdict{
		Active: true, Subject: "seen", ExpiresAt: exp, Source: authn.SourceCache, Degraded: true,
		Reasons: []string{"identity: http 503; using a cached introspection answer"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(authn.Verdict{}, "Claims"), cmpopts.EquateApproxTime(time.Second)); diff != "" {
		t.Errorf("Verify(seen, provider down) mismatch (-want +got):\n%s", diff)
	}

	want = authn.Verdict{Source: authn.SourceIntrospection, Degraded: true, Reasons: []string{"identity: http 503"}}
	if diff := cmp.Diff(want, e.verify(t, never)); diff != "" {
		t.Errorf("Verify(never seen, provider down) mismatch (-want +got):\n%s", diff)
	}

	e.clock.Advance(41 * time.Minute) // past the token's own exp
	if got := e.verify(t, seen); got.Active {
		t.Errorf("Verify(seen, provider down, past exp) = active, want inactive")
	}
}

func TestIdPOpaqueBadClientCredentials(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.cfg.ClientSecret = "wrong" })
	got := e.verify(t, e.idp.MintOpaque("agent"))
	want := authn.Verdict{Source: authn.SourceIntrospection, Degraded: true, Reasons: []string{"identity: http 401"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Verify(opaque, wrong client secret) mismatch (-want +got):\n%s", diff)
	}
}

func TestIdPOpaqueWrongAudience(t *testing.T) {
	e := newEnv(t)
	got := e.verify(t, e.idp.MintOpaque("agent", sim.MintAudience("billing")))
	if got.Active || !cmp.Equal(got.Reasons, []string{"wrong audience"}) {
		t.Errorf("Verify(opaque for another audience) = %+v, want inactive, wrong audience", got)
	}
}

func TestIdPOpaqueDiscoveredEndpoint(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.cfg.IntrospectionURL = "" })
	if got := e.verify(t, e.idp.MintOpaque("agent")); !got.Active {
		t.Errorf("Verify(opaque, endpoint from discovery) = inactive %v", got.Reasons)
	}
	if got := e.idp.Hit(sim.IdPDiscovery); got != 1 {
		t.Errorf("discovery hits = %d, want 1", got)
	}
	if strings.Contains(e.logs.String(), "op_") {
		t.Errorf("logs hold an opaque token")
	}
}
