package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/upstream"
)

// errNoIntrospection: neither the config nor discovery names an
// introspection endpoint.
var errNoIntrospection = errors.New("identity: no introspection endpoint")

// answer is one introspection answer, as cached.
type answer struct {
	active  bool
	subject string
	exp     time.Time // the token's own expiry; zero when unknown
	scopes  []string
	claims  map[string]any
	reason  string // why inactive

	fresh time.Time // trusted without asking until then
	keep  time.Time // a positive answer serves an outage until then
}

func (a *answer) verdict(src authn.Source) authn.Verdict {
	if !a.active {
		return inactive(src, a.reason)
	}
	return authn.Verdict{Active: true, Subject: a.subject, ExpiresAt: a.exp, Scopes: a.scopes, Claims: a.claims, Source: src}
}

// verifyOpaque answers from the cache while an answer is fresh, asks the
// provider otherwise, and falls back to a cached positive answer (until
// the token's exp, bounded by max_stale) when the provider cannot answer.
func (v *Verifier) verifyOpaque(ctx context.Context, token string) (authn.Verdict, outcome) {
	key := sha256.Sum256([]byte(token))
	now := v.now()
	cached := v.cache.get(key)
	if cached != nil && now.Before(cached.fresh) {
		if cached.active {
			return cached.verdict(authn.SourceCache), outcomeActive
		}
		return cached.verdict(authn.SourceCache), outcomeInvalid
	}

	a, err := v.introspect(ctx, token)
	now = v.now()
	if err != nil {
		why := reasonFor(err)
		if errors.Is(err, errNoIntrospection) {
			return inactive(authn.SourceIntrospection, "opaque tokens are not accepted: no introspection endpoint"), outcomeUnavailable
		}
		if cached != nil && cached.active && now.Before(cached.keep) {
			vd := cached.verdict(authn.SourceCache)
			vd.Degraded = true
			vd.Reasons = []string{why + "; using a cached introspection answer"}
			v.log.Warn("introspection failed; using a cached answer", "token", tokenID(token), "reason", why)
			return vd, outcomeDegraded
		}
		v.log.Warn("introspection failed; token refused", "token", tokenID(token), "reason", why)
		vd := inactive(authn.SourceIntrospection, why)
		vd.Degraded = true // the provider, not the token, is why
		return vd, outcomeUnavailable
	}
	if a.active {
		a.fresh = now.Add(v.cfg.Introspection.MaxPositiveTTL.D())
		a.keep = now.Add(v.maxStale)
		if !a.exp.IsZero() {
			a.fresh, a.keep = minTime(a.fresh, a.exp), minTime(a.keep, a.exp)
		} else {
			a.keep = a.fresh // nothing says how long it may live
		}
	} else {
		a.fresh = now.Add(v.cfg.Introspection.MaxNegativeTTL.D())
		a.keep = a.fresh
	}
	v.cache.put(key, a)
	if !a.active {
		return a.verdict(authn.SourceIntrospection), outcomeInvalid
	}
	return a.verdict(authn.SourceIntrospection), outcomeActive
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// introspect POSTs token to the RFC 7662 endpoint. Introspection is a safe
// read (the POST only keeps the token out of URLs and logs), so it runs as
// idempotent: a lost answer is retried inside the dependency's timeout.
func (v *Verifier) introspect(ctx context.Context, token string) (*answer, error) {
	endpoint := v.introspectionURL
	if endpoint == "" {
		d, err := v.discover(ctx)
		if err != nil {
			return nil, err
		}
		if endpoint = d.IntrospectionEndpoint; endpoint == "" {
			return nil, errNoIntrospection
		}
	}
	raw, err := resilience.Read(ctx, v.dep, "introspect", func(ctx context.Context) (map[string]any, error) {
		form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if v.clientID != "" {
			// RFC 6749 §2.3.1: form-encode, then Basic.
			req.SetBasicAuth(url.QueryEscape(v.clientID), url.QueryEscape(v.clientSecret.Reveal()))
		}
		resp, err := v.client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocBytes))
			return nil, &upstream.StatusError{Code: resp.StatusCode}
		}
		var m map[string]any
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocBytes)).Decode(&m); err != nil {
			return nil, fmt.Errorf("identity: parse introspection answer: %w", err)
		}
		if _, ok := m["active"].(bool); !ok {
			return nil, errors.New("identity: introspection answer has no active member")
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.judge(raw), nil
}

// judge turns an RFC 7662 answer into a cached answer, refusing an active
// token that is expired, not yet valid or meant for another audience.
func (v *Verifier) judge(m map[string]any) *answer {
	if active, _ := m["active"].(bool); !active {
		return &answer{reason: "token inactive"}
	}
	now := v.now()
	a := &answer{active: true, claims: m}
	a.subject, _ = m["sub"].(string)
	a.scopes = scopes(m)
	if exp, ok := numericDate(m["exp"]); ok {
		a.exp = exp
		if !now.Before(exp.Add(v.leeway)) {
			return &answer{reason: "token expired"}
		}
	}
	if nbf, ok := numericDate(m["nbf"]); ok && now.Add(v.leeway).Before(nbf) {
		return &answer{reason: "token not yet valid"}
	}
	if aud, present := m["aud"]; present && !hasAudience(aud, v.audience) {
		return &answer{reason: "wrong audience"}
	}
	return a
}

func numericDate(x any) (time.Time, bool) {
	f, ok := x.(float64)
	if !ok || f <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// introCache holds introspection answers by the token's SHA-256: tokens
// themselves are never stored. It is bounded by
// identity.introspection.max_entries and evicts by W-TinyLFU (otter), so a
// flood of one-off tokens cannot push out the answers agents reuse. Expiry
// is by the verifier's clock: answers past keep are dropped when read and
// by sweep. It is safe for concurrent use.
type introCache struct {
	c   *otter.Cache[[sha256.Size]byte, *answer]
	max int
}

func newIntroCache(maxEntries int, log *slog.Logger) (*introCache, error) {
	c, err := otter.New(&otter.Options[[sha256.Size]byte, *answer]{MaximumSize: maxEntries, Logger: otterLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("identity: introspection cache: %w", err)
	}
	return &introCache{c: c, max: maxEntries}, nil
}

// get returns the answer cached for k, or nil.
func (c *introCache) get(k [sha256.Size]byte) *answer {
	a, _ := c.c.GetIfPresent(k)
	return a
}

// put stores a for k, evicting by frequency when the cache is full.
func (c *introCache) put(k [sha256.Size]byte, a *answer) { c.c.Set(k, a) }

// len is the number of cached answers, after pending evictions (for
// status, not the hot path).
func (c *introCache) len() int {
	c.c.CleanUp()
	return c.c.EstimatedSize()
}

// sweep drops answers that can no longer be served.
func (c *introCache) sweep(now time.Time) {
	var expired [][sha256.Size]byte
	for k, a := range c.c.All() {
		if !now.Before(a.keep) {
			expired = append(expired, k)
		}
	}
	for _, k := range expired {
		c.c.Invalidate(k)
	}
}

// otterLogger sends otter's warnings to the verifier's logger instead of
// slog.Default.
type otterLogger struct{ log *slog.Logger }

func (l otterLogger) Warn(ctx context.Context, msg string, err error) {
	l.log.WarnContext(ctx, "introspection cache: "+msg, "error", err)
}

func (l otterLogger) Error(ctx context.Context, msg string, err error) {
	l.log.ErrorContext(ctx, "introspection cache: "+msg, "error", err)
}
