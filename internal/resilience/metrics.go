package resilience

import (
	"sync"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/prometheus/client_golang/prometheus"
)

// outcome is how one Read or Write ended, the outcome label of
// holdline_dependency_requests_total.
type outcome uint8

const (
	outcomeSuccess outcome = iota
	outcomeFailure
	outcomeTimeout
	outcomeCircuitOpen
	outcomeBulkheadFull
	outcomeRateLimited
	outcomePermanent
	outcomeCanceled
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"success", "failure", "timeout", "circuit_open", "bulkhead_full", "rate_limited", "permanent", "canceled"}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdline_dependency_requests_total",
			Help: "Calls to a dependency through its policy chain, by outcome: success, failure, timeout, circuit_open, bulkhead_full, rate_limited, permanent, canceled.",
		}, []string{"dependency", "operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdline_dependency_duration_seconds",
			Help:    "Time spent in a dependency's policy chain, retries and hedges included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"dependency", "operation"}),
	}
}

// opMetrics are one operation's series, resolved once so that a call does
// not hash label values.
type opMetrics struct {
	requests [numOutcomes]prometheus.Counter
	duration prometheus.Observer
}

// opCache maps an operation name to its *opMetrics.
type opCache struct {
	m sync.Map
}

func (c *opCache) get(mt *metrics, dep, op string) *opMetrics {
	if v, ok := c.m.Load(op); ok {
		return v.(*opMetrics)
	}
	om := &opMetrics{duration: mt.duration.WithLabelValues(dep, op)}
	for i := range numOutcomes {
		om.requests[i] = mt.requests.WithLabelValues(dep, op, outcomeNames[i])
	}
	v, _ := c.m.LoadOrStore(op, om)
	return v.(*opMetrics)
}

// stateCollector reports breaker state, forced modes and the active
// endpoint at scrape time, so the lazy open -> half-open move of a failsafe
// breaker shows without a call having to happen first.
type stateCollector struct {
	set      *Set
	state    *prometheus.Desc
	forced   *prometheus.Desc
	endpoint *prometheus.Desc
	auth     *prometheus.Desc
	health   *prometheus.Desc
	limit    *prometheus.Desc
	inflight *prometheus.Desc
	queued   *prometheus.Desc
}

func newStateCollector(s *Set) *stateCollector {
	return &stateCollector{
		set: s,
		state: prometheus.NewDesc("holdline_breaker_state",
			"Circuit breaker state: 0 closed, 1 half-open, 2 open.", []string{"dependency"}, nil),
		forced: prometheus.NewDesc("holdline_breaker_forced",
			"1 for the breaker mode in force (auto, open or closed), 0 for the others.", []string{"dependency", "mode"}, nil),
		endpoint: prometheus.NewDesc("holdline_active_endpoint",
			"1 for the endpoint new calls go to (primary or secondary), 0 for the other.", []string{"dependency", "endpoint"}, nil),
		auth: prometheus.NewDesc("holdline_dependency_auth_failed",
			"1 while the dependency refuses holdline's credentials (its last answered call was a 401): alert on it.", []string{"dependency"}, nil),
		health: prometheus.NewDesc("holdline_endpoint_health",
			"Active health of an endpoint (dependencies with health_check only): 1 healthy, 0 unhealthy, -1 unknown (not probed enough yet).", []string{"dependency", "endpoint"}, nil),
		limit: prometheus.NewDesc("holdline_concurrency_limit",
			"Calls a dependency may have in flight now: bulkhead.max_concurrent, or where the adaptive limiter has put it (bulkhead.mode adaptive).", []string{"dependency", "mode"}, nil),
		inflight: prometheus.NewDesc("holdline_concurrency_inflight",
			"Calls to a dependency holding a bulkhead permit now.", []string{"dependency"}, nil),
		queued: prometheus.NewDesc("holdline_concurrency_queued",
			"Calls waiting for a permit of a dependency's adaptive limiter (bulkhead.queue > 0) now.", []string{"dependency"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.forced
	ch <- c.endpoint
	ch <- c.auth
	ch <- c.health
	ch <- c.limit
	ch <- c.inflight
	ch <- c.queued
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.set.deps {
		var v float64
		switch d.breakerState() {
		case circuitbreaker.HalfOpenState:
			v = 1
		case circuitbreaker.OpenState:
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, d.name)
		mode := d.BreakerMode()
		for _, m := range []BreakerMode{BreakerAuto, BreakerOpen, BreakerClosed} {
			ch <- prometheus.MustNewConstMetric(c.forced, prometheus.GaugeValue, b2f(m == mode), d.name, string(m))
		}
		secondary := d.secondaryActive()
		ch <- prometheus.MustNewConstMetric(c.endpoint, prometheus.GaugeValue, b2f(!secondary), d.name, "primary")
		ch <- prometheus.MustNewConstMetric(c.endpoint, prometheus.GaugeValue, b2f(secondary), d.name, "secondary")
		ch <- prometheus.MustNewConstMetric(c.auth, prometheus.GaugeValue, b2f(d.AuthFailed()), d.name)
		cs := d.Concurrency()
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(cs.Limit), d.name, cs.Mode)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(cs.Inflight), d.name)
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(cs.Queued), d.name)
		if d.HealthChecked() {
			for ep, h := range d.Health() {
				ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, healthValue(h.State), d.name, ep)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// healthValue is holdline_endpoint_health's value for a state.
func healthValue(s HealthState) float64 {
	switch s {
	case HealthHealthy:
		return 1
	case HealthUnhealthy:
		return 0
	}
	return -1
}
