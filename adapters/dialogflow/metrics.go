package dialogflow

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Turn outcomes, the outcome label of holdline_dialogflow_turns_total.
const (
	outcomeAnswered = "answered" // Dialogflow answered
	outcomeHandoff  = "handoff"  // Dialogflow answered with a live-agent hand-off
	outcomeFallback = "fallback" // the alias's fallback answered
)

type metrics struct {
	turns     *prometheus.CounterVec   // alias, environment, outcome
	fallbacks *prometheus.CounterVec   // alias, reason
	duration  *prometheus.HistogramVec // alias, environment
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdline_dialogflow_turns_total",
			Help: "Dialogflow turns by alias, environment and outcome: answered, handoff (Dialogflow asked for a live agent) or fallback (the alias's hand-off answered instead).",
		}, []string{"alias", "environment", "outcome"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdline_dialogflow_fallbacks_total",
			Help: "Turns answered by the alias's fallback, by reason (timeout, circuit open, unavailable, budget exhausted...).",
		}, []string{"alias", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdline_dialogflow_duration_seconds",
			Help:    "Time to answer a Dialogflow turn, fallbacks included, by alias and environment.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5},
		}, []string{"alias", "environment"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.turns, m.fallbacks, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("dialogflow: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
