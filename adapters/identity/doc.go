// Package identity verifies access tokens for holdline's POST
// /v1/identity/verify: JWTs locally against the provider's JWKS (found by
// OIDC discovery), opaque tokens by RFC 7662 introspection. It is not a
// stable API.
//
// The one rule is that a verdict never fails open. A token is active only
// when a key the provider published verified its signature and its claims
// (issuer, audience, exp, nbf, iat within the configured leeway), or when
// the provider's introspection endpoint said so. When the provider is down
// the Verifier degrades, explicitly (Verdict.Degraded with a reason):
//
//   - JWTs keep verifying against the last good key set for up to
//     identity.max_stale after it was fetched; past that, or with no key
//     set yet, every JWT is inactive.
//   - An opaque token whose positive introspection answer is cached stays
//     active until its own exp (bounded by max_stale); a token never seen
//     is inactive.
//
// Every call to the provider goes through the identity dependency's policy
// chain (its own bulkhead, rate limit, breaker, timeout and HTTP client) and
// inside identity.budget, so a hanging provider slows only identity checks,
// never screen pops or Dialogflow turns. Unknown-kid JWKS refreshes are
// merged and rate-limited, so a flood of tokens with random kids cannot
// hammer the provider.
//
// Tokens are never logged or stored whole: the introspection cache is keyed
// by their SHA-256, and logs carry at most an 8-hex-digit prefix of it.
package identity
