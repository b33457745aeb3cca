package identity_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/internal/sim"
)

func TestIdPOpaqueTokenIntrospectedThenCached(t *testing.T) {
	e := newEnv(t)
	exp := e.clock.Now().Add(time.Hour)
	tok := e.idp.MintOpaque("agent-3", sim.MintExpiresAt(exp), sim.MintScopes("screenpop"))

	want := identity.Verdict{Active: true, Subject: "agent-3", ExpiresAt: exp, Scopes: []string{"screenpop"}, Source: identity.SourceIntrospection}
	opts := []cmp.Option{cmpopts.IgnoreFields(identity.Verdict{}, "Claims"), cmpopts.EquateApproxTime(time.Second)}
	got := e.verify(t, tok)
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("Verify(opaque) mismatch (-want +got):\n%s", diff)
	}
	if got.Claims["client_id"] != "holdline" {
		t.Errorf("Verify(opaque).Claims = %v, want the introspection answer", got.Claims)
	}

	// A cached positive answer makes no call to the provider, even after
	// revocation, until MaxPositiveTTL.
	e.idp.Revoke(tok)
	e.clock.Advance(9 * time.Minute)
	want.Source = identity.SourceCache
	if diff := cmp.Diff(want, e.verify(t, tok), opts...); diff != "" {
		t.Errorf("Verify(opaque, cached) mismatch (-want +got):\n%s", diff)
	}
	if got := e.idp.Hit(sim.IdPIntrospect); got != 1 {
		t.Errorf("introspection hits = %d, want 1: a cached positive answer must not call the provider", got)
	}

	// Past MaxPositiveTTL (10m) the provider is asked again and the
	// revocation is seen.
	e.clock.Advance(2 * time.Minute)
	got = e.verify(t, tok)
	if got.Active || got.Source != identity.SourceIntrospection {
		t.Errorf("Verify(revoked, past MaxPositiveTTL) = %+v, want inactive from introspection", got)
	}
	if got := e.idp.Hit(sim.IdPIntrospect); got != 2 {
		t.Errorf("introspection hits = %d, want 2", got)
	}
}

func TestIdPOpaqueNegativeCaching(t *testing.T) {
	e := newEnv(t)
	const unknown = "op_never_issued"
	want := identity.Verdict{Source: identity.SourceIntrospection, Reasons: []string{"token inactive"}}
	if diff := cmp.Diff(want, e.verify(t, unknown)); diff != "" {
		t.Errorf("Verify(unknown opaque) mismatch (-want +got):\n%s", diff)
	}
	want.Source = identity.SourceCache
	if diff := cmp.Diff(want, e.verify(t, unknown)); diff != "" {
		t.Errorf("Verify(unknown opaque, again) mismatch (-want +got):\n%s", diff)
	}
	if got := e.idp.Hit(sim.IdPIntrospect); got != 1 {
		t.Errorf("introspection hits = %d, want 1 (negative answer cached)", got)
	}
	e.clock.Advance(31 * time.Second) // past NegativeTTL
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
	want := identity.Verdict{
		Active: true, Subject: "seen", ExpiresAt: exp, Source: identity.SourceCache, Degraded: true,
		Reasons: []string{"identity: http 503; using a cached introspection answer"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(identity.Verdict{}, "Claims"), cmpopts.EquateApproxTime(time.Second)); diff != "" {
		t.Errorf("Verify(seen, provider down) mismatch (-want +got):\n%s", diff)
	}

	want = identity.Verdict{Source: identity.SourceIntrospection, Reasons: []string{"identity: http 503"}}
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
	want := identity.Verdict{Source: identity.SourceIntrospection, Reasons: []string{"identity: http 401"}}
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
