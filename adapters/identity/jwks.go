package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/upstream"
)

var (
	// errIssuerMismatch: the discovery document names another issuer
	// (OIDC Discovery §4.3). A configuration problem, never retried.
	errIssuerMismatch = errors.New("identity: discovery names another issuer")
	// errNoUsableKeys: the JWKS holds no key usable with the allowed
	// algorithms. The last good set is kept.
	errNoUsableKeys = errors.New("identity: jwks has no usable signing keys")
	// errRefreshLimited: an on-demand JWKS fetch was refused because one
	// ran less than identity.jwks.min_interval ago.
	errRefreshLimited = errors.New("identity: jwks refresh rate-limited")
)

// maxDocBytes bounds a discovery document or JWKS.
const maxDocBytes = 1 << 20

// discoveryMaxAge is how long a discovery document is used before Refresh
// fetches it again (keeping the old one if that fails).
const discoveryMaxAge = 24 * time.Hour

// discovered is the part of the OIDC discovery document holdline uses.
type discovered struct {
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	Issuer                string `json:"issuer"`
	at                    time.Time
}

// keyState is an immutable snapshot of the key set and its freshness.
type keyState struct {
	set       *keySet   // last good set; nil before the first success
	doc       []byte    // the JWKS document set was read from (persisted)
	issuer    string    // the issuer in the discovery document's exact form
	fetchedAt time.Time // when set was fetched from the provider
	next      time.Time // when the background refresh is due
	attempt   time.Time // when the last fetch was attempted; zero for none
	err       error     // the last attempt's failure; nil when it succeeded
	persisted bool      // set was loaded from disk; no fetch has succeeded since
}

// degraded reports whether tokens verified with st rest on keys the
// provider has not confirmed: the last fetch failed, or the keys were
// loaded from disk and no fetch has succeeded since. Missing keys are
// degraded too.
func (st *keyState) degraded() bool {
	return st == nil || st.set == nil || st.err != nil || st.persisted
}

// issuerOr is the issuer tokens verified with st must carry: the
// discovery document's form, or def.
func (st *keyState) issuerOr(def string) string {
	if st.issuer != "" {
		return st.issuer
	}
	return def
}

// keySet is the usable keys of a JWKS, by kid.
type keySet struct {
	byKID map[string][]*verifyKey
	all   []*verifyKey
}

// verifyKey is one public key and the algorithms it may verify.
type verifyKey struct {
	kid  string
	raw  any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	algs []jwa.SignatureAlgorithm
}

func (k *verifyKey) allows(alg jwa.SignatureAlgorithm) bool {
	for _, a := range k.algs {
		if a == alg {
			return true
		}
	}
	return false
}

// find returns the keys that may verify a token with kid and alg. With no
// kid, every key allowing alg is a candidate.
func (s *keySet) find(kid string, alg jwa.SignatureAlgorithm) []*verifyKey {
	var out []*verifyKey
	cands := s.all
	if kid != "" {
		cands = s.byKID[kid]
	}
	for _, k := range cands {
		if k.allows(alg) {
			out = append(out, k)
		}
	}
	return out
}

// asymmetric reports whether alg is one holdline accepts: never none, never
// HMAC (a shared secret the provider would have to give every verifier).
func asymmetric(alg jwa.SignatureAlgorithm) bool {
	switch alg {
	case jwa.RS256(), jwa.RS384(), jwa.RS512(), jwa.PS256(), jwa.PS384(), jwa.PS512(),
		jwa.ES256(), jwa.ES384(), jwa.ES512(), jwa.EdDSA():
		return true
	}
	return false
}

// newKeySet keeps the JWKS keys that are for signatures, public (private
// parts are dropped), of a type matching one of the allowed algorithms,
// and, when the key names its alg, of that alg only. Symmetric keys are
// never used: HMAC-with-the-public-key confusion cannot happen.
func newKeySet(set jwk.Set, allowed map[string]jwa.SignatureAlgorithm) *keySet {
	ks := &keySet{byKID: map[string][]*verifyKey{}}
	for i := range set.Len() {
		key, ok := set.Key(i)
		if !ok {
			continue
		}
		if use, ok := key.KeyUsage(); ok && use != "" && use != jwk.ForSignature.String() {
			continue
		}
		raw, err := jwk.PublicRawKeyOf(key)
		if err != nil {
			continue // symmetric or unsupported
		}
		var fits []jwa.SignatureAlgorithm
		switch pk := raw.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < 2048 {
				continue
			}
			fits = []jwa.SignatureAlgorithm{jwa.RS256(), jwa.RS384(), jwa.RS512(), jwa.PS256(), jwa.PS384(), jwa.PS512()}
		case *ecdsa.PublicKey:
			switch pk.Curve {
			case elliptic.P256():
				fits = []jwa.SignatureAlgorithm{jwa.ES256()}
			case elliptic.P384():
				fits = []jwa.SignatureAlgorithm{jwa.ES384()}
			case elliptic.P521():
				fits = []jwa.SignatureAlgorithm{jwa.ES512()}
			}
		case ed25519.PublicKey:
			fits = []jwa.SignatureAlgorithm{jwa.EdDSA()}
		}
		named, hasAlg := key.Algorithm()
		vk := &verifyKey{raw: raw}
		vk.kid, _ = key.KeyID()
		for _, a := range fits {
			if _, ok := allowed[a.String()]; !ok {
				continue
			}
			if hasAlg && named.String() != a.String() {
				continue
			}
			vk.algs = append(vk.algs, a)
		}
		if len(vk.algs) == 0 {
			continue
		}
		ks.all = append(ks.all, vk)
		ks.byKID[vk.kid] = append(ks.byKID[vk.kid], vk)
	}
	return ks
}

// Refresh fetches the discovery document (when not yet known or older than
// a day) and the JWKS now, through the identity dependency's policies and
// within ctx. On success the new key set replaces the old; on failure the
// last good set is kept and marked degraded, and the error is returned (it
// is also logged and counted). Concurrent calls share one fetch, which is
// bounded by identity.budget like a Verify: a Verify that joins it never
// waits longer than its own budget. Run calls Refresh at once and then when
// due; the sidecar does not call it before serving, and tests call it to
// wait for the first fetch.
func (v *Verifier) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, v.budget)
	defer cancel()
	_, err, _ := v.flight.Do("jwks", func() (any, error) { return v.refresh(ctx) })
	return err
}

// refreshOnDemand is Refresh for Verify: rate-limited to one fetch per
// identity.jwks.min_interval, joining a fetch already in flight. A successful fetch
// for a set that was missing or past max_stale (not for an unknown kid)
// leaves the limit unspent, so a rotation right after a cold start is
// still picked up.
func (v *Verifier) refreshOnDemand(ctx context.Context, unknownKID bool) (*keyState, error) {
	st, err, _ := v.flight.Do("jwks", func() (any, error) {
		now := v.now()
		v.mu.Lock()
		if now.Before(v.nextOnDemand) {
			v.mu.Unlock()
			v.metrics.refreshed("rate_limited")
			return nil, errRefreshLimited
		}
		v.nextOnDemand = now.Add(v.cfg.JWKS.MinInterval.D())
		v.mu.Unlock()
		st, err := v.refresh(ctx)
		// A caller that gave up says nothing about the provider.
		if err == nil && !unknownKID || err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			v.mu.Lock()
			v.nextOnDemand = time.Time{}
			v.mu.Unlock()
		}
		return st, err
	})
	if err != nil {
		return nil, err
	}
	return st.(*keyState), nil
}

// refresh runs one fetch; callers hold the "jwks" flight, so refreshes
// never overlap. The new set replaces the old one whole: a key the
// provider dropped stops verifying now.
func (v *Verifier) refresh(ctx context.Context) (*keyState, error) {
	old := v.keys.Load()
	if old == nil {
		old = &keyState{}
	}
	f, err := v.fetchKeys(ctx)
	now := v.now()
	lo, hi := v.cfg.JWKS.RefreshMin.D(), v.cfg.JWKS.RefreshMax.D()
	if err != nil {
		st := *old
		st.err = err
		st.attempt = now
		st.next = now.Add(lo)
		v.keys.Store(&st)
		v.metrics.refreshed("failure")
		v.log.Warn("jwks refresh failed; keeping the last good key set",
			"reason", reasonFor(err), "keys", len(keyIDs(st.set)), "keys_age", v.ageOf(&st, now).String(),
			"max_stale", v.maxStale.String(), "retry_in", lo.String(), "error", err)
		return &st, err
	}
	maxAge := f.maxAge
	if maxAge <= 0 {
		maxAge = hi
	}
	st := &keyState{set: f.set, doc: f.doc, issuer: f.issuer, fetchedAt: now, attempt: now,
		next: now.Add(min(max(maxAge, lo), hi))}
	v.keys.Store(st)
	v.metrics.refreshed("success")
	if old.err != nil || old.set == nil || old.persisted {
		v.log.Info("jwks fetched", "keys", len(f.set.all), "kids", keyIDs(f.set), "next_refresh_in", st.next.Sub(now).String())
	}
	v.saveState(st)
	return st, nil
}

// ageOf is the age of st's key set, rounded to the second; 0 when there
// is none.
func (v *Verifier) ageOf(st *keyState, now time.Time) time.Duration {
	if st == nil || st.set == nil {
		return 0
	}
	return now.Sub(st.fetchedAt).Round(time.Second)
}

// keyIDs lists the kids of a key set, sorted, without duplicates.
func keyIDs(ks *keySet) []string {
	if ks == nil {
		return []string{}
	}
	out := make([]string, 0, len(ks.byKID))
	for kid := range ks.byKID {
		out = append(out, kid)
	}
	slices.Sort(out)
	return out
}

// keyAge is the age of the key set in seconds for the gauge, -1 before
// the first successful fetch.
func (v *Verifier) keyAge() float64 {
	st := v.keys.Load()
	if st == nil || st.set == nil {
		return -1
	}
	return v.now().Sub(st.fetchedAt).Seconds()
}

// fetched is the result of one successful JWKS fetch.
type fetched struct {
	set    *keySet
	doc    []byte
	issuer string
	maxAge time.Duration // from the cache headers; 0 when they say nothing
}

// fetchKeys returns the usable keys of the provider's JWKS and how long
// its cache headers say they stay fresh.
func (v *Verifier) fetchKeys(ctx context.Context) (*fetched, error) {
	d, err := v.discover(ctx)
	if err != nil {
		return nil, err
	}
	type result struct {
		doc    []byte
		set    jwk.Set
		maxAge time.Duration
	}
	r, err := resilience.Read(ctx, v.dep, "jwks", func(ctx context.Context) (result, error) {
		body, hdr, err := v.get(ctx, d.JWKSURI)
		if err != nil {
			return result{}, err
		}
		set, err := jwk.Parse(body)
		if err != nil {
			return result{}, fmt.Errorf("identity: parse jwks: %w", err)
		}
		return result{body, set, cacheLifetime(hdr, v.now())}, nil
	})
	if err != nil {
		return nil, err
	}
	ks := newKeySet(r.set, v.algs)
	if len(ks.all) == 0 {
		return nil, errNoUsableKeys
	}
	return &fetched{set: ks, doc: r.doc, issuer: d.Issuer, maxAge: r.maxAge}, nil
}

// sameIssuer reports whether two issuer URLs differ at most by a trailing
// slash: the one normalisation holdline applies to identity.issuer.
func sameIssuer(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// discover returns the discovery document, fetching it when not yet
// known or older than discoveryMaxAge (an old one is kept on failure).
// Its issuer must be the configured one, give or take a trailing slash;
// tokens are then held to the document's exact form.
func (v *Verifier) discover(ctx context.Context) (*discovered, error) {
	cur := v.disc.Load()
	if cur != nil && v.now().Sub(cur.at) < discoveryMaxAge {
		return cur, nil
	}
	u := strings.TrimSuffix(v.issuer, "/") + "/.well-known/openid-configuration"
	d, err := resilience.Read(ctx, v.dep, "discovery", func(ctx context.Context) (*discovered, error) {
		body, _, err := v.get(ctx, u)
		if err != nil {
			return nil, err
		}
		var d discovered
		if err := json.Unmarshal(body, &d); err != nil {
			return nil, fmt.Errorf("identity: parse discovery: %w", err)
		}
		return &d, nil
	})
	if err == nil {
		switch {
		case !sameIssuer(d.Issuer, v.issuer):
			err = fmt.Errorf("%w: %q", errIssuerMismatch, d.Issuer)
		case d.JWKSURI == "":
			err = errors.New("identity: discovery has no jwks_uri")
		}
	}
	if err != nil {
		if cur != nil {
			return cur, nil // a day-old document beats none
		}
		return nil, err
	}
	if d.Issuer != v.issuer && (cur == nil || cur.Issuer != d.Issuer) {
		v.log.Info("identity.issuer differs from the discovery document by a trailing slash; tokens must carry the document's form",
			"configured", v.issuer, "discovered", d.Issuer)
	}
	d.at = v.now()
	v.disc.Store(d)
	return d, nil
}

// get fetches a small document. A non-2xx answer is a
// *upstream.StatusError.
func (v *Verifier) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocBytes))
		return nil, nil, &upstream.StatusError{Code: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > maxDocBytes {
		return nil, nil, errors.New("identity: document too large")
	}
	return body, resp.Header, nil
}

// cacheLifetime reads Cache-Control max-age, or else Expires, from a
// response: 0 when neither says anything; a nanosecond (refresh as soon as
// RefreshMin allows) for no-store, no-cache or max-age=0.
func cacheLifetime(h http.Header, now time.Time) time.Duration {
	for _, part := range strings.Split(h.Get("Cache-Control"), ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		switch {
		case part == "no-store" || part == "no-cache":
			return time.Nanosecond
		case strings.HasPrefix(part, "max-age="):
			n, err := strconv.Atoi(strings.TrimPrefix(part, "max-age="))
			if err != nil || n < 0 {
				return 0
			}
			return max(time.Duration(n)*time.Second, time.Nanosecond)
		}
	}
	if exp := h.Get("Expires"); exp != "" {
		if t, err := http.ParseTime(exp); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
		}
	}
	return 0
}
