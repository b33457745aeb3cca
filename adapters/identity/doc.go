// Package identity verifies access tokens for holdline's POST
// /v1/identity/verify: JWTs locally against the provider's JWKS (found by
// OIDC discovery), opaque tokens by RFC 7662 introspection. It is not a
// stable API.
//
// The one rule is that a verdict never fails open. A JWT is active only
// when a key the provider published verified its signature with an
// algorithm from identity.algorithms (never none, never HMAC), its typ is
// one of identity.token_types (RFC 9068 at+jwt by default, so an ID token
// is not an access token), and its claims hold: iss exactly the issuer the
// discovery document names, aud containing identity.audience, exp present
// and nbf and iat within identity.leeway. An opaque token is active only
// when the provider's introspection endpoint said so.
//
// When the provider is down the Verifier degrades, explicitly
// (Verdict.Degraded with a reason, and Status):
//
//   - JWTs keep verifying against the last good key set for up to
//     identity.max_stale after it was fetched; past that, or with no key
//     set, every JWT is inactive. The set is persisted in the data dir
//     (Options.StateDir) after every fetch, atomically, and loaded by New,
//     so a restart during an outage still verifies tokens.
//   - An opaque token whose positive introspection answer is cached stays
//     active until its own exp (bounded by max_stale); a token never seen
//     is inactive.
//
// Every verdict that rests on keys or answers the provider has not
// confirmed, and every refusal because the provider could not be used,
// says Degraded. Run refreshes the keys as the JWKS cache headers say
// (within identity.jwks bounds), retries every refresh_min after a
// failure, and a fetch replaces the whole set, so a key the provider
// dropped stops verifying at the next fetch.
//
// Every call to the provider goes through the identity dependency's policy
// chain (its own bulkhead, rate limit, breaker, timeout and HTTP client) and
// inside identity.budget, so a hanging provider slows only identity checks,
// never screen pops or Dialogflow turns. Unknown-kid JWKS refreshes are
// made at once, merged (singleflight) and rate-limited to one per
// identity.jwks.min_interval, so a flood of tokens with random kids cannot
// hammer the provider.
//
// Tokens are never logged or stored whole: the introspection cache is keyed
// by their SHA-256, and logs carry at most an 8-hex-digit prefix of it.
package identity
