package resilience

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdline/holdline/internal/config"
)

// Tier is a dependency's service tier (see DESIGN.md).
type Tier string

const (
	// TierCritical dependencies sit on the screen-pop, Dialogflow or
	// recording path: callers must degrade, never fail, when they do.
	TierCritical Tier = "critical"
	// TierSupporting dependencies may be delayed (CRM writes go to the
	// outbox) or serve from cache (identity never fails open).
	TierSupporting Tier = "supporting"
	// TierNonCritical dependencies may wait.
	TierNonCritical Tier = "non-critical"
)

// tiers fixes each dependency's tier. CRM lookups are on the critical path
// even though CRM writes are supporting.
var tiers = map[string]Tier{
	"crm":        TierCritical,
	"dialogflow": TierCritical,
	"blob":       TierCritical,
	"identity":   TierSupporting,
	"redis":      TierSupporting,
}

// Options are the optional knobs of NewSet.
type Options struct {
	// Logger receives breaker transitions and operator overrides. Nil
	// discards them.
	Logger *slog.Logger
	// Registerer receives the metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for stats, overrides and faults. Nil is time.Now.
	Now func() time.Time
	// AllowLoopback lets every dependency dial 127.0.0.0/8 and ::1 whatever
	// its allowlist says: dev mode and tests.
	AllowLoopback bool
	// Faults are the drill faults to inject. Nil disables fault injection.
	Faults *Faults
	// OnBreakerChange is called after a breaker changes state (closed,
	// open, half-open), including by an operator's forced mode, for the
	// audit log. It may be nil. It must not call back into the Dependency's
	// SetBreakerMode.
	OnBreakerChange func(dep, from, to string)
	// Lookup resolves host names for the egress check. Nil uses the
	// system resolver. Tests set it to resolve names to any address.
	Lookup LookupFunc

	// adaptiveWindow, when set, shortens the adaptive limiter's sampling
	// window (its default: at least 1s and 50 calls between limit
	// changes), so that tests see the limit move in a fraction of that.
	adaptiveWindow *sampleWindow

	// TracerProvider, when set, gives every call a span and every
	// attempt a child span (trace.go). Nil (tracing off) makes no spans.
	TracerProvider trace.TracerProvider
	// Propagator, when set, sends the trace context of each attempt's span
	// upstream on every HTTP request (W3C traceparent and tracestate).
	Propagator propagation.TextMapPropagator
}

// Set is every dependency's policy chain, HTTP client and stats. It is
// safe for concurrent use.
type Set struct {
	deps   []*Dependency
	byName map[string]*Dependency
	faults *Faults
}

// NewSet builds one Dependency for each of config.Names from deps, which
// should have its defaults applied (config.Load and config.Default do that).
// It returns every configuration problem at once, each a *config.Problem
// naming its key path, and an error if the metrics cannot be registered.
func NewSet(deps config.Dependencies, opts Options) (*Set, error) {
	fillOptions(&opts)
	s := &Set{byName: make(map[string]*Dependency, len(config.Names)), faults: opts.Faults}
	m := newMetrics()
	var errs []error
	for _, name := range config.Names {
		d, err := newDependency(name, *deps.Policy(name), m, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.deps = append(s.deps, d)
		s.byName[name] = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, newStateCollector(s)} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("resilience: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// fillOptions sets the defaults of opts' nil fields.
func fillOptions(opts *Options) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lookup == nil {
		opts.Lookup = defaultLookup
	}
}

// Get returns the named dependency, or nil for an unknown name.
func (s *Set) Get(name string) *Dependency { return s.byName[name] }

// All returns every dependency in config.Names order.
func (s *Set) All() []*Dependency { return s.deps }

// Faults returns the drill faults, nil when fault injection is disabled.
func (s *Set) Faults() *Faults { return s.faults }

// CloseIdleConnections closes the idle connections of every dependency's
// HTTP client, for shutdown.
func (s *Set) CloseIdleConnections() {
	for _, d := range s.deps {
		d.client.CloseIdleConnections()
	}
}

func newDependency(name string, p config.Policy, m *metrics, opts Options) (*Dependency, error) {
	path := "dependencies." + name
	var errs []error
	bad := func(key, msg string) { errs = append(errs, &config.Problem{Path: path + "." + key, Msg: msg}) }
	b := p.Breaker
	if b.FailureRate <= 0 || b.FailureRate > 1 {
		bad("breaker.failure_rate", "must be in (0, 1]")
	}
	if b.MinRequests < 1 {
		bad("breaker.min_requests", "must be positive")
	}
	if b.Window <= 0 {
		bad("breaker.window", "must be positive")
	}
	if b.OpenFor <= 0 {
		bad("breaker.open_for", "must be positive")
	}
	if b.HalfOpenProbes < 1 {
		bad("breaker.half_open_probes", "must be positive")
	}
	if p.Bulkhead.Mode == "" {
		p.Bulkhead.Mode = "fixed" // a Policy without its defaults applied
	}
	errs = append(errs, p.Bulkhead.Validate(path)...)
	if p.Timeout <= 0 {
		bad("timeout", "must be positive")
	}
	if p.Retry.MaxAttempts < 1 {
		bad("retry.max_attempts", "must be at least 1")
	}
	if p.Retry.Backoff < 0 {
		bad("retry.backoff", "must not be negative")
	}
	if p.Hedge.Delay < 0 {
		bad("hedge.delay", "must not be negative")
	}
	if p.RateLimit.PerSecond < 0 {
		bad("rate_limit.per_second", "must not be negative")
	}
	allow, err := newAllowlist(name, path, p, opts.AllowLoopback)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	d := &Dependency{
		name:     name,
		tier:     tiers[name],
		policy:   p,
		log:      opts.Logger.With("dependency", name),
		now:      opts.Now,
		faults:   opts.Faults,
		onChange: opts.OnBreakerChange,
		metrics:  m,
		timeout:  p.Timeout.D(),
		health:   newHealth(p),
	}
	d.buildChain(p, opts.adaptiveWindow)

	d.dialer = &dialer{allow: allow, lookup: opts.Lookup, net: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}
	d.transport = &http.Transport{
		Proxy:                 nil, // a proxy would defeat the egress allowlist
		DialContext:           d.dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(p.Bulkhead.MaxConcurrent, 2),
		MaxIdleConnsPerHost:   max(p.Bulkhead.MaxConcurrent, 2),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if opts.TracerProvider != nil {
		d.tracer = opts.TracerProvider.Tracer(ScopeName)
	}
	d.prop = opts.Propagator
	rt := headerTransport{prop: opts.Propagator, next: &faultTransport{dep: d, next: d.transport}}
	d.client = &http.Client{Transport: rt, CheckRedirect: refuseRedirect}
	return d, nil
}

// refuseRedirect is every dependency client's redirect policy: never
// follow. The APIs holdline calls do not redirect, a redirect would carry
// the credentials to wherever it points, and each hop would need its own
// egress decision; so a redirect is an egress denial naming the target
// (never retried, never a breaker failure), and the operator sees it.
func refuseRedirect(req *http.Request, via []*http.Request) error {
	return fmt.Errorf("%w: redirect to %s refused (dependencies are called without following redirects)", ErrEgressDenied, req.URL.Host)
}
