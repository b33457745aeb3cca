// Package authn is what the gateway sees of access-token verification:
// the Verdict on one token and the Verifier port it calls. The adapter in
// adapters/identity implements Verifier; the gateway never imports the
// adapter. It is HTTP-free and not a stable API.
package authn

import (
	"context"
	"time"
)

// Verifier verifies access tokens. adapters/identity.Verifier implements
// it. Implementations are safe for concurrent use.
type Verifier interface {
	// Verify returns the token's verdict within the identity budget. It
	// never fails: a token it cannot verify is inactive with a reason.
	Verify(ctx context.Context, token string) Verdict
}

// Source says where a verdict came from.
type Source string

const (
	// SourceJWT: the token was verified locally against the JWKS.
	SourceJWT Source = "jwt"
	// SourceIntrospection: the provider's introspection endpoint answered
	// (or, for an inactive verdict, was asked and could not answer).
	SourceIntrospection Source = "introspection"
	// SourceCache: a cached introspection answer.
	SourceCache Source = "cache"
)

// Verdict is the answer for one token, in the shape of RFC 7662. An
// invalid token is Active false with a reason, never an error.
type Verdict struct {
	// Active is true only for a token verified now or by a cached answer.
	Active bool
	// Subject is the sub claim of an active token.
	Subject string
	// ExpiresAt is the token's exp; zero when it has none (opaque tokens).
	ExpiresAt time.Time
	// Scopes are the space-separated scope claim (or the scp array).
	Scopes []string
	// Claims are the token's claims (JWT payload or introspection answer)
	// for an active token; nil otherwise.
	Claims map[string]any
	// Source is jwt, introspection or cache.
	Source Source
	// Degraded is true when the verdict rests on cached keys or a cached
	// answer because the provider could not be reached.
	Degraded bool
	// Reasons say why the token is inactive or the verdict degraded. They
	// are safe to show to clients: no hosts, URLs or token material.
	Reasons []string
}
