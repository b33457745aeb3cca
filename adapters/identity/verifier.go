package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

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

// Options are the optional knobs of New. Zero values take the defaults.
type Options struct {
	// Logger receives refresh failures and degraded verdicts. Nil
	// discards them.
	Logger *slog.Logger
	// Registerer receives the metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for token validation and caches. Nil is time.Now.
	Now func() time.Time
	// JWKSMinRefresh is the least time between two JWKS fetches asked for
	// by Verify (a token with an unknown kid, no key set yet, or keys past
	// max_stale). Concurrent asks share one fetch. Default 10s.
	JWKSMinRefresh time.Duration
	// RefreshMin and RefreshMax bound the background refresh interval
	// that Run takes from the JWKS response's Cache-Control max-age or
	// Expires (RefreshMax when it has neither). After a failed refresh
	// Run tries again after RefreshMin. Defaults 1m and 1h.
	RefreshMin, RefreshMax time.Duration
	// NegativeTTL is how long an inactive introspection answer is cached.
	// Default 30s.
	NegativeTTL time.Duration
	// MaxPositiveTTL bounds how long an active introspection answer is
	// trusted without asking again (it is never trusted past the token's
	// exp): the longest a revocation can go unnoticed. Default 10m.
	MaxPositiveTTL time.Duration
	// MaxCacheEntries bounds the introspection cache. Default 100000.
	MaxCacheEntries int
}

// maxTokenLen refuses absurd tokens before any parsing or provider call.
const maxTokenLen = 16 << 10

// Verifier verifies tokens. It is safe for concurrent use; build it with
// New and run Run in the background to keep its keys fresh.
type Verifier struct {
	issuer, audience string
	leeway, maxStale time.Duration
	budget           time.Duration
	algs             map[string]jwa.SignatureAlgorithm // allowed, by name
	introspectionURL string                            // from config; else discovered
	clientID         string
	clientSecret     config.Secret

	dep    *resilience.Dependency
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	opts   Options

	keys   atomic.Pointer[keyState]
	disc   atomic.Pointer[discovered]
	flight singleflight.Group

	mu           sync.Mutex // guards nextOnDemand
	nextOnDemand time.Time

	cache   *introCache
	metrics *metrics
	running atomic.Bool
}

// New returns a Verifier for cfg, calling the provider through dep (the
// identity dependency of a resilience.Set). It makes no network call: keys
// are fetched by Run, or on the first Verify. It returns every problem with
// cfg at once, each a *config.Problem naming its key, and an error if the
// metrics cannot be registered.
func New(cfg config.Identity, dep *resilience.Dependency, opts Options) (*Verifier, error) {
	var errs []error
	bad := func(key, msg string) { errs = append(errs, &config.Problem{Path: "identity." + key, Msg: msg}) }
	if dep == nil {
		errs = append(errs, errors.New("identity: a resilience dependency is required"))
	}
	if u, err := url.Parse(cfg.Issuer); cfg.Issuer == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("issuer", "must be the provider's http(s) issuer URL")
	}
	if cfg.Audience == "" {
		bad("audience", "must be set: tokens minted for other services must not pass")
	}
	algs := map[string]jwa.SignatureAlgorithm{}
	for i, name := range cfg.Algorithms {
		alg, ok := jwa.LookupSignatureAlgorithm(name)
		if !ok || !asymmetric(alg) {
			bad(fmt.Sprintf("algorithms[%d]", i), fmt.Sprintf("%q is not an allowed asymmetric algorithm (none and HMAC are refused)", name))
			continue
		}
		algs[name] = alg
	}
	if len(cfg.Algorithms) == 0 {
		bad("algorithms", "must list at least one algorithm")
	}
	if cfg.Leeway < 0 {
		bad("leeway", "must not be negative")
	}
	if cfg.MaxStale <= 0 {
		bad("max_stale", "must be positive")
	}
	if cfg.Budget <= 0 {
		bad("budget", "must be positive")
	}
	if cfg.IntrospectionURL != "" && cfg.ClientID == "" {
		bad("client_id", "must be set when identity.introspection_url is")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	setDefault(&opts.JWKSMinRefresh, 10*time.Second)
	setDefault(&opts.RefreshMin, time.Minute)
	setDefault(&opts.RefreshMax, time.Hour)
	opts.RefreshMax = max(opts.RefreshMax, opts.RefreshMin)
	setDefault(&opts.NegativeTTL, 30*time.Second)
	setDefault(&opts.MaxPositiveTTL, 10*time.Minute)
	if opts.MaxCacheEntries <= 0 {
		opts.MaxCacheEntries = 100_000
	}
	v := &Verifier{
		issuer:           cfg.Issuer,
		audience:         cfg.Audience,
		leeway:           cfg.Leeway.D(),
		maxStale:         cfg.MaxStale.D(),
		budget:           cfg.Budget.D(),
		algs:             algs,
		introspectionURL: cfg.IntrospectionURL,
		clientID:         cfg.ClientID,
		clientSecret:     cfg.ClientSecret,
		dep:              dep,
		client:           dep.HTTPClient(),
		log:              opts.Logger.With("component", "identity"),
		now:              opts.Now,
		opts:             opts,
		cache:            newIntroCache(opts.MaxCacheEntries),
	}
	v.metrics = newMetrics(v.keyAge)
	if opts.Registerer != nil {
		if err := v.metrics.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("identity: register metrics: %w", err)
		}
	}
	return v, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Verify checks token within identity.budget and returns its verdict. A
// token of three dot-separated parts is a JWT, verified locally; anything
// else is introspected. Verify never returns an active verdict it could not
// establish (see the package documentation), and never blocks longer than
// the budget or ctx allow. It is safe for concurrent use.
func (v *Verifier) Verify(ctx context.Context, token string) Verdict {
	ctx, cancel := context.WithTimeout(ctx, v.budget)
	defer cancel()
	var vd Verdict
	oc := outcomeInvalid
	switch {
	case token == "":
		vd = inactive(SourceJWT, "empty token")
	case len(token) > maxTokenLen:
		vd = inactive(SourceJWT, "token too long")
	case strings.Count(token, ".") == 2:
		vd, oc = v.verifyJWT(ctx, token)
	default:
		vd, oc = v.verifyOpaque(ctx, token)
	}
	v.metrics.verified(vd, oc)
	return vd
}

// Run keeps the key set fresh until ctx ends: it fetches it at once, then
// again when the JWKS response's cache headers say (bounded by RefreshMin
// and RefreshMax), RefreshMin after a failure, and sweeps expired
// introspection answers every minute. It returns nil once ctx is done and
// its work has stopped. Calling Run twice at once is an error.
func (v *Verifier) Run(ctx context.Context) error {
	if !v.running.CompareAndSwap(false, true) {
		return errors.New("identity: verifier: already running")
	}
	defer v.running.Store(false)
	refresh := time.NewTimer(0)
	defer refresh.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			_ = v.Refresh(ctx) // logged and counted inside
			refresh.Reset(v.untilRefresh())
		case <-sweep.C:
			v.cache.sweep(v.now())
		}
	}
}

// untilRefresh is how long Run waits before the next refresh.
func (v *Verifier) untilRefresh() time.Duration {
	st := v.keys.Load()
	if st == nil {
		return v.opts.RefreshMin
	}
	return min(max(st.next.Sub(v.now()), v.opts.RefreshMin), v.opts.RefreshMax)
}

// inactive is a verdict for a token that is not active.
func inactive(src Source, reasons ...string) Verdict {
	return Verdict{Source: src, Reasons: reasons}
}

// tokenID names a token in logs without revealing it: the first 8 hex
// digits of its SHA-256.
func tokenID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:4])
}
