package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Identity configures token verification (POST /v1/identity/verify). It is
// off while Issuer is empty.
type Identity struct {
	// Issuer is the OIDC issuer URL; discovery is at
	// {issuer}/.well-known/openid-configuration. Tokens' iss must equal the
	// issuer the discovery document names, exactly. A configured issuer
	// that differs from it only by a trailing slash is taken in the
	// discovery document's form; any other difference refuses the keys.
	Issuer string `yaml:"issuer"`
	// Audience the token must carry in aud. Required when Issuer is set:
	// tokens minted for other services must not pass.
	Audience string `yaml:"audience"`
	// Algorithms allowed in a JWT's alg header. Only asymmetric ones are
	// accepted (RS, PS, ES and EdDSA); none and HMAC are refused.
	// Default [RS256, ES256].
	Algorithms []string `yaml:"algorithms"`
	// TokenTypes are the accepted values of a JWT's typ header, compared
	// without regard to case. Default [at+jwt, application/at+jwt], the
	// RFC 9068 access-token types, so an ID token (typ JWT) is not taken
	// for an access token. Add JWT only if the provider issues plain JWT
	// access tokens; JWT also accepts a token without typ.
	TokenTypes []string `yaml:"token_types"`
	// Leeway for exp, nbf and iat: the clock skew tolerated between
	// holdline and the provider. Default 30s.
	Leeway Duration `yaml:"leeway"`
	// MaxStale is how long the last good key set (kept in data_dir, so it
	// survives restarts) keeps verifying tokens when the provider cannot
	// be reached. Past it, every JWT is refused. Default 24h.
	MaxStale Duration `yaml:"max_stale"`
	// JWKS tunes how often the key set is fetched.
	JWKS IdentityJWKS `yaml:"jwks"`
	// IntrospectionURL is the RFC 7662 endpoint for opaque tokens. Empty
	// takes the discovery document's introspection_endpoint.
	IntrospectionURL string `yaml:"introspection_url"`
	// ClientID for introspection. Required with IntrospectionURL.
	ClientID string `yaml:"client_id"`
	// ClientSecret for introspection.
	ClientSecret Secret `yaml:"client_secret"`
	// Introspection tunes the cache of introspection answers.
	Introspection IdentityIntrospection `yaml:"introspection"`
	// Budget bounds one verification, provider calls included.
	// Default 500ms.
	Budget Duration `yaml:"budget"`
}

// IdentityJWKS tunes JWKS fetching.
type IdentityJWKS struct {
	// RefreshMin is the least time between two scheduled fetches, and the
	// retry interval after a failed one: the longest a recovered provider
	// waits before holdline stops reporting degraded. Default 1m.
	RefreshMin Duration `yaml:"refresh_min"`
	// RefreshMax is the longest a key set is used without fetching it
	// again; the JWKS response's Cache-Control max-age (or Expires) sets
	// the interval between RefreshMin and RefreshMax. A key the provider
	// dropped stops verifying at the next fetch. Default 1h.
	RefreshMax Duration `yaml:"refresh_max"`
	// MinInterval is the least time between two fetches asked for by a
	// token (an unknown kid after a rotation, or no usable keys).
	// Concurrent asks share one fetch. It bounds the load a flood of
	// tokens with random kids can put on the provider. Default 1s.
	MinInterval Duration `yaml:"min_interval"`
}

// IdentityIntrospection tunes the introspection answer cache.
type IdentityIntrospection struct {
	// MaxPositiveTTL is how long an active answer is trusted without
	// asking again (never past the token's exp): the longest a revoked
	// opaque token stays accepted. Default 30s.
	MaxPositiveTTL Duration `yaml:"max_positive_ttl"`
	// MaxNegativeTTL is how long an inactive answer is trusted: the
	// longest a token the provider did not know yet stays refused, and
	// what spares the provider repeated checks of garbage. Default 10s.
	MaxNegativeTTL Duration `yaml:"max_negative_ttl"`
	// MaxEntries bounds the cache (least frequently used answers are
	// evicted first, W-TinyLFU). Default 100000.
	MaxEntries int `yaml:"max_entries"`
}

// AsymmetricAlgorithms are the JWS algorithms identity.algorithms may list.
var AsymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (i *Identity) applyDefaults() {
	if len(i.Algorithms) == 0 {
		i.Algorithms = []string{"RS256", "ES256"}
	}
	if len(i.TokenTypes) == 0 {
		i.TokenTypes = []string{"at+jwt", "application/at+jwt"}
	}
	setDur(&i.Leeway, 30*time.Second)
	setDur(&i.MaxStale, 24*time.Hour)
	setDur(&i.Budget, 500*time.Millisecond)
	setDur(&i.JWKS.RefreshMin, time.Minute)
	setDur(&i.JWKS.RefreshMax, time.Hour)
	setDur(&i.JWKS.MinInterval, time.Second)
	setDur(&i.Introspection.MaxPositiveTTL, 30*time.Second)
	setDur(&i.Introspection.MaxNegativeTTL, 10*time.Second)
	setInt(&i.Introspection.MaxEntries, 100_000)
}

// Validate checks the identity section with defaults applied and returns
// every problem, each a *Problem naming its key. Both `holdline config
// validate` (through Config.Validate) and the token verifier call it, so
// the two refuse the same things. With Issuer empty identity is off and
// only keys that would need it are reported.
func (i *Identity) Validate() []error {
	v := &validator{path: "identity"}
	if i.Issuer == "" {
		if i.Audience != "" || i.IntrospectionURL != "" || i.ClientID != "" {
			v.add("issuer", "must be set when other identity keys are (identity is off without it)")
		}
		return v.errs
	}
	i.validateIssuer(v)
	i.validateTokens(v)
	i.validateTimes(v)
	v.positive("introspection.max_entries", int64(i.Introspection.MaxEntries))
	if i.IntrospectionURL != "" {
		v.url("introspection_url", i.IntrospectionURL)
		if i.ClientID == "" {
			v.add("client_id", "must be set when identity.introspection_url is")
		}
	}
	return v.errs
}

// validateIssuer checks the issuer URL and the audience it requires.
func (i *Identity) validateIssuer(v *validator) {
	if u, err := url.Parse(i.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add("issuer", fmt.Sprintf("%q is not an http(s) URL", i.Issuer))
	} else if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "//") {
		v.add("issuer", fmt.Sprintf("%q must have no query, fragment or doubled trailing slash (OIDC Discovery §2)", i.Issuer))
	}
	if i.Audience == "" {
		v.add("audience", "must be set: tokens minted for other services must not pass")
	}
}

// validateTokens checks the accepted algorithms and token types.
func (i *Identity) validateTokens(v *validator) {
	if len(i.Algorithms) == 0 {
		v.add("algorithms", "must list at least one algorithm")
	}
	for n, alg := range i.Algorithms {
		if !slices.Contains(AsymmetricAlgorithms, alg) {
			v.add(fmt.Sprintf("algorithms[%d]", n), fmt.Sprintf("%q is not an allowed asymmetric algorithm (none and HMAC are refused)", alg))
		}
	}
	if len(i.TokenTypes) == 0 {
		v.add("token_types", "must list at least one typ, such as at+jwt")
	}
	for n, typ := range i.TokenTypes {
		if strings.TrimSpace(typ) == "" {
			v.add(fmt.Sprintf("token_types[%d]", n), "must not be empty (list JWT to accept tokens without typ)")
		}
	}
}

// validateTimes checks the durations and how they bound each other.
func (i *Identity) validateTimes(v *validator) {
	for _, d := range []struct {
		key string
		d   Duration
	}{
		{"max_stale", i.MaxStale},
		{"budget", i.Budget},
		{"jwks.refresh_min", i.JWKS.RefreshMin},
		{"jwks.min_interval", i.JWKS.MinInterval},
		{"introspection.max_positive_ttl", i.Introspection.MaxPositiveTTL},
		{"introspection.max_negative_ttl", i.Introspection.MaxNegativeTTL},
	} {
		v.positive(d.key, int64(d.d))
	}
	if i.Leeway < 0 || i.Leeway.D() > 5*time.Minute {
		v.add("leeway", "must be between 0 and 5m")
	}
	if i.JWKS.RefreshMax < i.JWKS.RefreshMin {
		v.add("jwks.refresh_max", "must be at least identity.jwks.refresh_min")
	}
	if i.MaxStale > 0 && i.MaxStale < i.JWKS.RefreshMax {
		v.add("max_stale", "must be at least identity.jwks.refresh_max, or cached keys expire before the next scheduled fetch")
	}
}
