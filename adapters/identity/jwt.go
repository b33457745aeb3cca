package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/resilience"
)

// joseHeader is the part of a JWT header read before verification: only
// to pick the key. The signature covers it; jwx checks it again.
type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

func parseHeader(token string) (joseHeader, bool) {
	var h joseHeader
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(b, &h) != nil {
		return h, false
	}
	return h, true
}

// verifyJWT verifies a compact JWS token against the key set.
func (v *Verifier) verifyJWT(ctx context.Context, token string) (authn.Verdict, outcome) {
	h, ok := parseHeader(token)
	if !ok {
		return inactive(authn.SourceJWT, "malformed token"), outcomeInvalid
	}
	alg, ok := v.algs[h.Alg]
	if !ok {
		// The header is the attacker's: name known algorithms only.
		switch a, known := jwa.LookupSignatureAlgorithm(h.Alg); {
		case h.Alg == "" || strings.EqualFold(h.Alg, "none"):
			return inactive(authn.SourceJWT, "algorithm none refused"), outcomeInvalid
		case known:
			return inactive(authn.SourceJWT, fmt.Sprintf("algorithm %s not allowed", a)), outcomeInvalid
		}
		return inactive(authn.SourceJWT, "unknown algorithm"), outcomeInvalid
	}

	if !v.typeAllowed(h.Typ) {
		return inactive(authn.SourceJWT, fmt.Sprintf("token type %q is not an accepted access token type (identity.token_types)", clip(h.Typ))), outcomeInvalid
	}

	st, why := v.usableKeys(ctx)
	if st == nil {
		v.log.Warn("jwt refused: no usable signing keys", "token", tokenID(token), "reason", why)
		vd := inactive(authn.SourceJWT, why)
		vd.Degraded = true // the provider, not the token, is why
		return vd, outcomeUnavailable
	}
	keys := st.set.find(h.Kid, alg)
	if len(keys) == 0 {
		if _, known := st.set.byKID[h.Kid]; known || h.Kid == "" {
			return inactive(authn.SourceJWT, "no signing key for this algorithm"), outcomeInvalid
		}
		// A kid we have never seen: the provider may have rotated.
		fresh, err := v.refreshOnDemand(ctx, true)
		if err != nil {
			fresh = v.keys.Load() // another caller's refresh may have landed
		}
		if fresh != nil && fresh.set != nil {
			st, keys = fresh, fresh.set.find(h.Kid, alg)
		}
		if len(keys) == 0 {
			vd := inactive(authn.SourceJWT, "unknown signing key")
			if err != nil && !errors.Is(err, errRefreshLimited) {
				vd.Reasons = append(vd.Reasons, reasonFor(err))
			}
			// During an outage a rotated key cannot be told from a forged
			// kid: say the verdict rests on keys the provider did not
			// confirm.
			vd.Degraded = fresh.degraded()
			return vd, outcomeInvalid
		}
	}

	// jws.VerifyCompactFast checks the header's alg against alg, the key's
	// type against alg, and refuses crit and b64 headers.
	var payload []byte
	var err error
	for _, k := range keys {
		if payload, err = jws.VerifyCompactFast(k.raw, []byte(token), alg); err == nil {
			break
		}
	}
	if err != nil {
		return inactive(authn.SourceJWT, "invalid signature"), outcomeInvalid
	}
	tok, err := jwt.Parse(payload,
		jwt.WithVerify(false), // verified above
		jwt.WithValidate(true),
		jwt.WithIssuer(st.issuerOr(v.issuer)), // exact (RFC 9068 §4)
		jwt.WithAudience(v.audience),
		jwt.WithAcceptableSkew(v.leeway),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		return inactive(authn.SourceJWT, jwtReason(err)), outcomeInvalid
	}

	vd := authn.Verdict{Active: true, Source: authn.SourceJWT}
	vd.Subject, _ = tok.Subject()
	vd.ExpiresAt, _ = tok.Expiration()
	if json.Unmarshal(payload, &vd.Claims) != nil {
		vd.Claims = nil
	}
	vd.Scopes = scopes(vd.Claims)
	switch {
	case st.err != nil:
		vd.Degraded = true
		vd.Reasons = []string{fmt.Sprintf("%s; verified with cached signing keys %s old",
			reasonFor(st.err), v.ageOf(st, v.now()))}
		return vd, outcomeDegraded
	case st.persisted:
		vd.Degraded = true
		vd.Reasons = []string{fmt.Sprintf("verified with signing keys persisted %s ago, not yet confirmed by the provider",
			v.ageOf(st, v.now()))}
		return vd, outcomeDegraded
	}
	return vd, outcomeActive
}

// typeAllowed reports whether a JWT's typ header is one of
// identity.token_types (case-insensitively, RFC 7515 §4.1.9); a token
// without typ passes only when JWT is listed.
func (v *Verifier) typeAllowed(typ string) bool {
	if typ == "" {
		return v.typs["jwt"]
	}
	return v.typs[strings.ToLower(typ)]
}

// clip shortens attacker-controlled text for a reason.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// usableKeys returns the key set to verify with, fetching it when there is
// none yet or it is past max_stale. With no usable set it returns nil and
// the reason.
func (v *Verifier) usableKeys(ctx context.Context) (*keyState, string) {
	st := v.keys.Load()
	if st != nil && st.set != nil && v.now().Sub(st.fetchedAt) <= v.maxStale {
		return st, ""
	}
	fresh, err := v.refreshOnDemand(ctx, false)
	if err == nil {
		return fresh, ""
	}
	st = v.keys.Load()
	if errors.Is(err, errRefreshLimited) && st != nil && st.err != nil {
		err = st.err // the failure that the limit is waiting out
	}
	if st == nil || st.set == nil {
		return nil, "signing keys unavailable: " + reasonFor(err)
	}
	if age := v.now().Sub(st.fetchedAt); age > v.maxStale {
		return nil, fmt.Sprintf("cached signing keys are %s old, past max_stale %s: %s",
			age.Round(time.Second), v.maxStale, reasonFor(err))
	}
	return st, ""
}

// reasonFor says why the provider could not be used, safely for clients.
func reasonFor(err error) string {
	switch {
	case errors.Is(err, errIssuerMismatch):
		return "identity: discovery names another issuer"
	case errors.Is(err, errNoUsableKeys):
		return "identity: no usable keys in jwks"
	case errors.Is(err, errRefreshLimited):
		return "identity: jwks refresh rate-limited"
	}
	return resilience.Reason("identity", err)
}

// jwtReason maps a jwx parse or validation error to a client-safe reason.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.TokenExpiredError()):
		return "token expired"
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return "token not yet valid"
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return "token issued in the future"
	case errors.Is(err, jwt.InvalidAudienceError()):
		return "wrong audience"
	case errors.Is(err, jwt.InvalidIssuerError()):
		return "wrong issuer"
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return "token has no exp"
	}
	return "invalid token"
}

// scopes reads the scope claim (space-separated, RFC 9068) or scp (an
// array, as some providers send).
func scopes(claims map[string]any) []string {
	if s, ok := claims["scope"].(string); ok && s != "" {
		return strings.Fields(s)
	}
	if arr, ok := claims["scp"].([]any); ok {
		out := make([]string, 0, len(arr))
		for _, x := range arr {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
