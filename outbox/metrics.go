package outbox

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Dispatcher's collectors, registered on the Registerer
// given in DispatcherConfig (never the global one).
type metrics struct {
	enqueued, completed, failures, dead *prometheus.CounterVec
	depth                               *prometheus.GaugeVec
	oldestPending                       prometheus.Gauge
	lag                                 prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, lag func() float64) (*metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"kind"})
	}
	m := &metrics{
		enqueued:  counter("holdline_outbox_enqueued_total", "Jobs created through Dispatcher.Enqueue (duplicates not counted)."),
		completed: counter("holdline_outbox_completed_total", "Jobs whose handler succeeded."),
		failures:  counter("holdline_outbox_failures_total", "Handler runs that failed and counted as an attempt."),
		dead:      counter("holdline_outbox_dead_total", "Jobs sent to dead."),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "holdline_outbox_depth",
			Help: "Jobs per state; blocked counts pending jobs held behind a dead one.",
		}, []string{"state"}),
		oldestPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "holdline_outbox_oldest_pending_seconds",
			Help: "Age of the oldest pending job, 0 when none.",
		}),
		lag: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "holdline_outbox_lag_seconds",
			Help: "How long ago the jobs the dispatcher starts now became due, while due jobs wait for a worker; 0 when it keeps up. A write whose budget is below it is answered queued at once.",
		}, lag),
	}
	if reg != nil {
		all := []prometheus.Collector{m.enqueued, m.completed, m.failures, m.dead, m.depth, m.oldestPending, m.lag}
		for i, c := range all {
			if err := reg.Register(c); err != nil {
				for _, done := range all[:i] {
					reg.Unregister(done)
				}
				return nil, err
			}
		}
	}
	return m, nil
}
