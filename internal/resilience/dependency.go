package resilience

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// Dependency is one upstream with its policy chain, HTTP client, egress
// allowlist and stats. It is safe for concurrent use.
type Dependency struct {
	name     string
	tier     Tier
	policy   config.Policy
	log      *slog.Logger
	now      func() time.Time
	faults   *Faults
	onChange func(dep, from, to string)

	// The chain, built once (see buildChain): two executors sharing one
	// instance of each policy.
	breaker circuitbreaker.CircuitBreaker[any]
	limiter concurrency // the bulkhead: fixed or adaptive
	timeout time.Duration
	read    failsafe.Executor[any] // bulkhead, rate limiter, retry, breaker, hedge
	readOne failsafe.Executor[any] // read without the hedge policy (read when there is none)
	write   failsafe.Executor[any] // bulkhead, rate limiter, breaker
	hedged  bool                   // read attempts may run concurrently
	hedge   time.Duration          // the hedge delay

	mode       atomic.Int32 // a breakerMode
	secondary  atomic.Bool  // failed over
	authFailed atomic.Bool  // last answered call was a 401
	health     *health      // active checks (health.go); nil when off

	mu               sync.Mutex // guards the overrides and failover
	breakerOverride  *Override
	endpointOverride *Override
	failover         FailoverFunc // nil: endpoints are URLs (policy.Endpoints)

	dialer    *dialer
	transport *http.Transport
	client    *http.Client

	metrics *metrics
	ops     opCache
	stats   stats

	tracer trace.Tracer                  // nil: tracing off (trace.go)
	prop   propagation.TextMapPropagator // nil: no trace context upstream
}

// Name returns the dependency's name, one of config.Names.
func (d *Dependency) Name() string { return d.name }

// Tier returns the dependency's service tier.
func (d *Dependency) Tier() Tier { return d.tier }

// HTTPClient returns the dependency's own client: its own connection pool,
// a dialer that enforces the egress allowlist on the resolved address, and
// fault injection beneath everything. It applies no policies and has no
// Timeout: wrap calls in Read or Write and let ctx govern.
func (d *Dependency) HTTPClient() *http.Client { return d.client }

// Endpoint returns the active base URL: the primary, or the secondary after
// a failover. It is "" when none is configured.
func (d *Dependency) Endpoint() string {
	if d.secondary.Load() {
		return d.policy.Endpoints.Secondary
	}
	return d.policy.Endpoints.Primary
}

func (d *Dependency) secondaryActive() bool { return d.secondary.Load() }

// AuthFailed reports whether the dependency's last answered call was a
// 401: its credentials are refused (status auth_failed, metric
// holdline_dependency_auth_failed). The next successful call clears it.
func (d *Dependency) AuthFailed() bool { return d.authFailed.Load() }

// noteAuth keeps AuthFailed in step with a call's outcome.
func (d *Dependency) noteAuth(oc outcome, err error) {
	switch {
	case upstream.IsAuthFailure(err):
		if !d.authFailed.Swap(true) {
			d.log.Error("credentials refused (401): CRM writes wait in the outbox until a call succeeds again; check the secret", "dependency", d.name)
		}
	case oc == outcomeSuccess:
		if d.authFailed.Swap(false) {
			d.log.Info("credentials accepted again", "dependency", d.name)
		}
	}
}

// ActiveEndpoint names the endpoint new calls go to: "primary" or
// "secondary".
func (d *Dependency) ActiveEndpoint() string { return d.activeEndpointName() }

// HasSecondary reports whether a secondary endpoint is configured (a URL,
// or a FailoverFunc such as Dialogflow's secondary environments), so an
// operator can fail over to it.
func (d *Dependency) HasSecondary() bool {
	if d.policy.Endpoints.Secondary != "" {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failover != nil
}

// FailoverFunc carries out an operator's failover of a dependency whose
// secondary is not a URL of its policy: to is "primary" or "secondary".
// An error refuses the failover and is returned to the operator as it is.
type FailoverFunc func(to, actor, reason string) error

// SetFailover makes the dependency one that an operator can fail over
// although dependencies.NAME.endpoints.secondary is empty: Dialogflow,
// whose secondary is a per-agent environment in another region. From then
// on HasSecondary is true, and SetActiveEndpoint calls fn before it
// records the choice. Call it once, while building, before serving.
func (d *Dependency) SetFailover(fn FailoverFunc) {
	d.mu.Lock()
	d.failover = fn
	d.mu.Unlock()
}

// Override records who changed a breaker mode or an endpoint, why and when.
type Override struct {
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// BreakerMode is how an operator has set a breaker.
type BreakerMode string

const (
	// BreakerAuto lets the breaker follow the failure rate.
	BreakerAuto BreakerMode = "auto"
	// BreakerOpen refuses every call with circuitbreaker.ErrOpen.
	BreakerOpen BreakerMode = "open"
	// BreakerClosed lets every call through and ignores failures.
	BreakerClosed BreakerMode = "closed"
)

var modes = []BreakerMode{BreakerAuto, BreakerOpen, BreakerClosed}

// BreakerMode returns the breaker mode in force.
func (d *Dependency) BreakerMode() BreakerMode { return modes[d.mode.Load()] }

// SetBreakerMode forces the breaker open or closed, or hands it back to
// the failure rate (auto). Forced open, Read and Write return
// circuitbreaker.ErrOpen at once without calling fn; forced closed, every
// call goes through and failures are not counted. Leaving forced closed,
// the breaker starts afresh. An unknown mode is a holdline
// EINVALID error for "mode".
func (d *Dependency) SetBreakerMode(mode BreakerMode, actor, reason string) error {
	i := -1
	for j, m := range modes {
		if m == mode {
			i = j
		}
	}
	if i < 0 {
		return holdline.Errorf(holdline.EINVALID, "mode", "%q is not one of auto, open, closed", mode)
	}
	from := d.breakerState()
	d.mu.Lock()
	if d.BreakerMode() == BreakerClosed && mode != BreakerClosed {
		d.resetBreaker()
	}
	d.mode.Store(int32(i))
	if mode == BreakerAuto {
		d.breakerOverride = nil
	} else {
		d.breakerOverride = &Override{Actor: actor, Reason: reason, At: d.now()}
	}
	d.mu.Unlock()
	if mode == BreakerClosed {
		d.breaker.Close() // its listener is quiet while forced; reported below
	}
	d.log.Info("breaker mode set", "mode", string(mode), "actor", actor, "reason", reason)
	if to := d.breakerState(); to != from {
		d.changed(from, to)
	}
	return nil
}

// resetBreaker gives the breaker a fresh closed state. While forced closed
// the breaker records every call as a success (breakerFailure counts
// nothing), and those successes must not dilute the failure rate once it
// follows the calls again. It runs while the forced mode still silences
// the listener, so the reset reports no transition.
func (d *Dependency) resetBreaker() {
	d.breaker.HalfOpen()
	d.breaker.Close()
}

// breakerChanged is the failsafe listener: it reports transitions made by
// the failure rate. Transitions caused by a forced mode are reported by
// SetBreakerMode.
func (d *Dependency) breakerChanged(e circuitbreaker.StateChangedEvent) {
	if d.BreakerMode() != BreakerAuto {
		return
	}
	d.changed(e.OldState, e.NewState)
}

func (d *Dependency) changed(from, to circuitbreaker.State) {
	d.log.Warn("breaker state changed", "from", from.String(), "to", to.String())
	if d.onChange != nil {
		d.onChange(d.name, from.String(), to.String())
	}
}

// breakerState is the effective state: forced modes win, and an open
// breaker whose delay has passed counts as half-open (failsafe moves it
// lazily, on the next call).
func (d *Dependency) breakerState() circuitbreaker.State {
	switch d.BreakerMode() {
	case BreakerOpen:
		return circuitbreaker.OpenState
	case BreakerClosed:
		return circuitbreaker.ClosedState
	}
	st := d.breaker.State()
	if st == circuitbreaker.OpenState && d.breaker.RemainingDelay() == 0 {
		return circuitbreaker.HalfOpenState
	}
	return st
}

// BreakerAllows reports whether a call would get past the breaker now:
// false when it is open (and its open_for has not passed) or forced open.
// The outbox pauses jobs on it without spending attempts.
func (d *Dependency) BreakerAllows() bool {
	return d.breakerState() != circuitbreaker.OpenState
}

// SetActiveEndpoint sends new calls to the "primary" or "secondary"
// endpoint. Without a secondary configured (neither a URL nor a
// FailoverFunc) it returns a holdline ECONFLICT error wrapping
// ErrNoSecondary; for any other name, a holdline EINVALID error for
// "endpoint". With a FailoverFunc, its error is returned and nothing
// changes.
func (d *Dependency) SetActiveEndpoint(which string, actor, reason string) error {
	var secondary bool
	switch which {
	case "primary":
	case "secondary":
		if !d.HasSecondary() {
			return holdline.Wrap(holdline.ECONFLICT, "active", noSecondary(d.name), fmt.Errorf("%s: %w", d.name, ErrNoSecondary))
		}
		secondary = true
	default:
		return holdline.Errorf(holdline.EINVALID, "endpoint", "%q is not primary or secondary", which)
	}
	d.mu.Lock()
	if d.failover != nil {
		if err := d.failover(which, actor, reason); err != nil {
			d.mu.Unlock()
			return err
		}
	}
	d.secondary.Store(secondary)
	d.endpointOverride = &Override{Actor: actor, Reason: reason, At: d.now()}
	d.mu.Unlock()
	d.log.Warn("active endpoint set", "endpoint", which, "actor", actor, "reason", reason)
	return nil
}

// DependencyStatus is one dependency's row in /v1/status.
type DependencyStatus struct {
	Name             string      `json:"name"`
	Tier             Tier        `json:"tier"`
	Breaker          string      `json:"breaker"` // closed, open, half-open
	BreakerMode      BreakerMode `json:"breaker_mode"`
	BreakerOverride  *Override   `json:"breaker_override"`
	ActiveEndpoint   string      `json:"active_endpoint"` // primary, secondary
	Endpoint         string      `json:"endpoint"`        // without userinfo
	EndpointOverride *Override   `json:"endpoint_override"`
	Calls1m          int64       `json:"calls_1m"`
	Failures1m       int64       `json:"failures_1m"`
	FailureRate1m    float64     `json:"failure_rate_1m"`
	P50ms            float64     `json:"p50_ms"`
	P99ms            float64     `json:"p99_ms"`
	LastError        string      `json:"last_error"` // a Reason, never internal detail
	LastErrorAt      *time.Time  `json:"last_error_at"`
	LastSuccessAt    *time.Time  `json:"last_success_at"`
	ActiveFaults     int         `json:"active_faults"`
	// Auth is ok, or auth_failed while the dependency refuses holdline's
	// credentials (see AuthFailed).
	Auth string `json:"auth"`
	// Concurrency is the bulkhead's limit now (fixed, or where the
	// adaptive limiter has put it), the calls in flight and waiting.
	Concurrency ConcurrencyStatus `json:"concurrency"`
}

// Concurrency reports the bulkhead's limit, in-flight and queued calls now.
func (d *Dependency) Concurrency() ConcurrencyStatus { return d.limiter.status() }

// Status reports the dependency's state and its last minute.
func (d *Dependency) Status() DependencyStatus {
	w := d.stats.window(d.now())
	st := DependencyStatus{
		Name:          d.name,
		Tier:          d.tier,
		Breaker:       d.breakerState().String(),
		BreakerMode:   d.BreakerMode(),
		Endpoint:      redact(d.Endpoint()),
		Calls1m:       w.calls,
		Failures1m:    w.failures,
		P50ms:         float64(w.p50) / float64(time.Millisecond),
		P99ms:         float64(w.p99) / float64(time.Millisecond),
		LastError:     w.lastErr,
		LastErrorAt:   timePtr(w.lastErrAt),
		LastSuccessAt: timePtr(w.lastOKAt),
		ActiveFaults:  len(d.faults.Active(d.name)),
		Concurrency:   d.Concurrency(),
	}
	if w.calls > 0 {
		st.FailureRate1m = float64(w.failures) / float64(w.calls)
	}
	st.Auth = "ok"
	if d.AuthFailed() {
		st.Auth = "auth_failed"
	}
	st.ActiveEndpoint = "primary"
	if d.secondary.Load() {
		st.ActiveEndpoint = "secondary"
	}
	d.mu.Lock()
	st.BreakerOverride = copyOverride(d.breakerOverride)
	st.EndpointOverride = copyOverride(d.endpointOverride)
	d.mu.Unlock()
	return st
}

func copyOverride(o *Override) *Override {
	if o == nil {
		return nil
	}
	c := *o
	return &c
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// redact strips userinfo from a URL; anything unparsable is hidden.
func redact(s string) string {
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		// host:port (Redis) or user:pass@host:port
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			return s[i+1:]
		}
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid)"
	}
	u.User = nil
	return u.String()
}
