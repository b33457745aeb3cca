package config

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// problemPaths parses yaml and returns the key paths of its problems.
func problemPaths(t *testing.T, yaml string) []string {
	t.Helper()
	_, err := Parse([]byte(yaml), env(nil))
	if err == nil {
		return nil
	}
	var paths []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var p *Problem
		if !errors.As(e, &p) {
			t.Fatalf("Parse problem %v is not a *Problem", e)
		}
		paths = append(paths, p.Path)
	}
	return paths
}

func TestIdentityValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"off without an issuer", "", nil},
		{"good", "identity: {issuer: https://idp.example, audience: holdline}", nil},
		{"trailing slash is fine (normalised against discovery)", "identity: {issuer: https://idp.example/, audience: holdline}", nil},
		{"missing audience", "identity: {issuer: https://idp.example}", []string{"identity.audience"}},
		{"keys without an issuer", "identity: {audience: holdline}", []string{"identity.issuer"}},
		{"issuer not a URL", "identity: {issuer: idp.example, audience: holdline}", []string{"identity.issuer"}},
		{"issuer with a query", "identity: {issuer: 'https://idp.example/?tenant=1', audience: holdline}", []string{"identity.issuer"}},
		{"HMAC and none", "identity: {issuer: https://idp.example, audience: holdline, algorithms: [HS256, none]}",
			[]string{"identity.algorithms[0]", "identity.algorithms[1]"}},
		{"empty token type", "identity: {issuer: https://idp.example, audience: holdline, token_types: ['']}", []string{"identity.token_types[0]"}},
		{"introspection without a client", "identity: {issuer: https://idp.example, audience: holdline, introspection_url: https://idp.example/i}",
			[]string{"identity.client_id"}},
		{"refresh bounds reversed", "identity: {issuer: https://idp.example, audience: holdline, jwks: {refresh_min: 2h, refresh_max: 1h}}",
			[]string{"identity.jwks.refresh_max"}},
		{"max_stale shorter than refresh_max", "identity: {issuer: https://idp.example, audience: holdline, max_stale: 30m}",
			[]string{"identity.max_stale"}},
		{"leeway too long", "identity: {issuer: https://idp.example, audience: holdline, leeway: 1h}", []string{"identity.leeway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemPaths(t, minimal+tt.yaml+"\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIdentityDefaults(t *testing.T) {
	i := Default().Identity
	if !slices.Equal(i.TokenTypes, []string{"at+jwt", "application/at+jwt"}) {
		t.Errorf("token_types = %v, want the RFC 9068 types", i.TokenTypes)
	}
	for name, got := range map[string]Duration{
		"jwks.min_interval": i.JWKS.MinInterval, "jwks.refresh_min": i.JWKS.RefreshMin, "jwks.refresh_max": i.JWKS.RefreshMax,
		"introspection.max_positive_ttl": i.Introspection.MaxPositiveTTL, "introspection.max_negative_ttl": i.Introspection.MaxNegativeTTL,
	} {
		want := map[string]time.Duration{
			"jwks.min_interval": time.Second, "jwks.refresh_min": time.Minute, "jwks.refresh_max": time.Hour,
			"introspection.max_positive_ttl": 30 * time.Second, "introspection.max_negative_ttl": 10 * time.Second,
		}[name]
		if got.D() != want {
			t.Errorf("identity.%s = %v, want %v", name, got, want)
		}
	}
}
