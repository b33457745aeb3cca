package identity

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/authn"
)

// outcome is a verdict's result label.
type outcome string

const (
	// outcomeActive: active, fully verified.
	outcomeActive outcome = "active"
	// outcomeDegraded: active on cached keys or a cached answer.
	outcomeDegraded outcome = "degraded"
	// outcomeInvalid: inactive because of the token.
	outcomeInvalid outcome = "inactive"
	// outcomeUnavailable: inactive because the provider could not be used.
	outcomeUnavailable outcome = "unavailable"
)

type metrics struct {
	verifications *prometheus.CounterVec
	refreshes     *prometheus.CounterVec
	age           prometheus.GaugeFunc
	maxStale      prometheus.Gauge
}

func newMetrics(age func() float64, maxStale time.Duration) *metrics {
	ms := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "holdline_identity_jwks_max_stale_seconds",
		Help: "identity.max_stale: once holdline_identity_jwks_age_seconds passes it, JWTs are refused (unavailable) until a key set is fetched again.",
	})
	ms.Set(maxStale.Seconds())
	return &metrics{
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdline_identity_verifications_total",
			Help: "Token verifications by source (jwt, introspection, cache) and result (active, degraded, inactive, unavailable).",
		}, []string{"source", "result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdline_identity_jwks_refreshes_total",
			Help: "JWKS fetches by outcome (success, failure, rate_limited).",
		}, []string{"outcome"}),
		age: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "holdline_identity_jwks_age_seconds",
			Help: "Age of the key set in use (since its last successful fetch from the provider); -1 before the first.",
		}, age),
		maxStale: ms,
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.verifications, m.refreshes, m.age, m.maxStale} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) verified(vd authn.Verdict, oc outcome) {
	m.verifications.WithLabelValues(string(vd.Source), string(oc)).Inc()
}

func (m *metrics) refreshed(outcome string) { m.refreshes.WithLabelValues(outcome).Inc() }
