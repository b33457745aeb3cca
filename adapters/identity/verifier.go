package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

// Verifier is the authn port of the gateway.
var _ authn.Verifier = (*Verifier)(nil)

// Options are the optional knobs of New. Zero values take the defaults.
// The tunable limits (refresh intervals, TTLs, cache size) are in
// config.Identity.
type Options struct {
	// Logger receives refresh failures and degraded verdicts. Nil
	// discards them.
	Logger *slog.Logger
	// Registerer receives the metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for token validation, key ages and caches. Nil is
	// time.Now.
	Now func() time.Time
	// After is the timer Run waits on: it returns a channel that receives
	// once d has passed on the Now clock. Nil uses real timers. Tests
	// that inject Now inject After with it.
	After func(d time.Duration) <-chan time.Time
	// StateDir is where the last good key set is kept (data_dir), so a
	// restart while the provider is down still verifies tokens, degraded,
	// until identity.max_stale. Empty keeps it in memory only.
	StateDir string
}

// maxTokenLen refuses absurd tokens before any parsing or provider call.
const maxTokenLen = 16 << 10

// Verifier verifies tokens. It is safe for concurrent use; build it with
// New and run Run in the background to keep its keys fresh.
type Verifier struct {
	cfg              config.Identity
	issuer, audience string
	leeway, maxStale time.Duration
	budget           time.Duration
	algs             map[string]jwa.SignatureAlgorithm // allowed, by name
	typs             map[string]bool                   // allowed typ headers, lower case
	introspectionURL string                            // from config; else discovered
	clientID         string
	clientSecret     config.Secret

	dep    *resilience.Dependency
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	after  func(time.Duration) <-chan time.Time
	state  string // path of the persisted key set; "" for none

	keys   atomic.Pointer[keyState]
	disc   atomic.Pointer[discovered]
	flight singleflight.Group

	mu           sync.Mutex // guards nextOnDemand
	nextOnDemand time.Time

	cache   *introCache
	metrics *metrics
	running atomic.Bool
}

// New returns a Verifier for cfg (with defaults applied), calling the
// provider through dep (the identity dependency of a resilience.Set). It
// makes no network call: it loads the key set persisted in
// Options.StateDir, if any, and keys are fetched by Run, or on the first
// Verify. It returns every problem with cfg at once, each a
// *config.Problem naming its key (the same config.Identity.Validate that
// `holdline config validate` runs), and an error if the metrics cannot be
// registered.
func New(cfg config.Identity, dep *resilience.Dependency, opts Options) (*Verifier, error) {
	var errs []error
	if dep == nil {
		errs = append(errs, errors.New("identity: a resilience dependency is required"))
	}
	if cfg.Issuer == "" {
		// Validate takes an empty issuer for identity turned off.
		errs = append(errs, &config.Problem{Path: "identity.issuer", Msg: "must be the provider's http(s) issuer URL"})
	} else {
		errs = append(errs, cfg.Validate()...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	algs := map[string]jwa.SignatureAlgorithm{}
	for _, name := range cfg.Algorithms {
		if alg, ok := jwa.LookupSignatureAlgorithm(name); ok && asymmetric(alg) {
			algs[name] = alg
		}
	}
	typs := map[string]bool{}
	for _, t := range cfg.TokenTypes {
		typs[strings.ToLower(strings.TrimSpace(t))] = true
	}

	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{
		cfg:              cfg,
		issuer:           cfg.Issuer,
		audience:         cfg.Audience,
		leeway:           cfg.Leeway.D(),
		maxStale:         cfg.MaxStale.D(),
		budget:           cfg.Budget.D(),
		algs:             algs,
		typs:             typs,
		introspectionURL: cfg.IntrospectionURL,
		clientID:         cfg.ClientID,
		clientSecret:     cfg.ClientSecret,
		dep:              dep,
		client:           dep.HTTPClient(),
		log:              opts.Logger.With("component", "identity"),
		now:              opts.Now,
		after:            opts.After,
	}
	if opts.StateDir != "" {
		v.state = filepath.Join(opts.StateDir, stateFile)
	}
	cache, err := newIntroCache(cfg.Introspection.MaxEntries, v.log)
	if err != nil {
		return nil, err
	}
	v.cache = cache
	v.metrics = newMetrics(v.keyAge, v.maxStale)
	if opts.Registerer != nil {
		if err := v.metrics.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("identity: register metrics: %w", err)
		}
	}
	v.loadState()
	return v, nil
}

// Verify checks token within identity.budget and returns its verdict. A
// token of three dot-separated parts is a JWT, verified locally; anything
// else is introspected. Verify never returns an active verdict it could not
// establish (see the package documentation), and never blocks longer than
// the budget or ctx allow. It is safe for concurrent use.
func (v *Verifier) Verify(ctx context.Context, token string) authn.Verdict {
	ctx, cancel := context.WithTimeout(ctx, v.budget)
	defer cancel()
	var vd authn.Verdict
	oc := outcomeInvalid
	switch {
	case token == "":
		vd = inactive(authn.SourceJWT, "empty token")
	case len(token) > maxTokenLen:
		vd = inactive(authn.SourceJWT, "token too long")
	case strings.Count(token, ".") == 2:
		vd, oc = v.verifyJWT(ctx, token)
	default:
		vd, oc = v.verifyOpaque(ctx, token)
	}
	v.metrics.verified(vd, oc)
	return vd
}

// sweepEvery is how often Run drops expired introspection answers.
const sweepEvery = time.Minute

// Run keeps the key set fresh until ctx ends: it fetches it at once (or
// when due, after a Refresh made before Run), then
// again when the JWKS response's cache headers say (bounded by
// identity.jwks.refresh_min and refresh_max), and refresh_min after a
// failure, every time, however many failures came before; it also sweeps
// expired introspection answers every minute. It returns nil once ctx is
// done and its work has stopped. Calling Run twice at once is an error.
func (v *Verifier) Run(ctx context.Context) error {
	if !v.running.CompareAndSwap(false, true) {
		return errors.New("identity: verifier: already running")
	}
	defer v.running.Store(false)
	due := v.now() // the first fetch is at once, unless one was just made
	if st := v.keys.Load(); st != nil && !st.attempt.IsZero() {
		due = st.next
	}
	lastSweep := v.now()
	for {
		if now := v.now(); !now.Before(due) {
			_ = v.Refresh(ctx) // logged and counted inside
			due = v.now().Add(v.untilRefresh())
		}
		if now := v.now(); now.Sub(lastSweep) >= sweepEvery {
			v.cache.sweep(now)
			lastSweep = now
		}
		wait := min(due.Sub(v.now()), sweepEvery)
		if err := v.sleep(ctx, max(wait, 0)); err != nil {
			return nil
		}
	}
}

// sleep waits d on the verifier's clock, or until ctx ends (then it
// returns ctx's error).
func (v *Verifier) sleep(ctx context.Context, d time.Duration) error {
	if v.after != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-v.after(d):
			return nil
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// untilRefresh is how long Run waits before the next refresh: what the
// last successful fetch's cache headers said, bounded, or refresh_min
// while the last attempt failed or the keys come from disk.
func (v *Verifier) untilRefresh() time.Duration {
	lo, hi := v.cfg.JWKS.RefreshMin.D(), v.cfg.JWKS.RefreshMax.D()
	st := v.keys.Load()
	if st == nil || st.set == nil || st.err != nil || st.persisted {
		return lo
	}
	return min(max(st.next.Sub(v.now()), lo), hi)
}

// inactive is a verdict for a token that is not active.
func inactive(src authn.Source, reasons ...string) authn.Verdict {
	return authn.Verdict{Source: src, Reasons: reasons}
}

// tokenID names a token in logs without revealing it: the first 8 hex
// digits of its SHA-256.
func tokenID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:4])
}
