package screenpop

import "github.com/prometheus/client_golang/prometheus"

// metrics holds every series pre-resolved: the hit path does no label
// lookups and no allocations.
type metrics struct {
	crm, cache, stale, minimal               prometheus.Counter
	duration                                 prometheus.Histogram
	refreshOK, refreshFailed, refreshSkipped prometheus.Counter
	refreshDropped                           prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	pops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "holdline_screen_pop_total",
		Help: "Screen pops by source: crm, cache (fresh hit), stale (degraded) or minimal (degraded, nothing known).",
	}, []string{"source"})
	dur := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "holdline_screen_pop_duration_seconds",
		Help:    "Time to answer a screen pop, whatever its source.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .2, .3, .5, 1},
	})
	refresh := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "holdline_screen_pop_refresh_total",
		Help: "Background cache refreshes (refresh-ahead and after a stale answer) by result: ok, failed, skipped (breaker open), dropped (queue full).",
	}, []string{"result"})
	if reg != nil {
		// Registering twice is a wiring bug (two flows on one registry),
		// so it panics like prometheus.MustRegister.
		reg.MustRegister(pops, dur, refresh)
	}
	return &metrics{
		crm:            pops.WithLabelValues(SourceCRM),
		cache:          pops.WithLabelValues(SourceCache),
		stale:          pops.WithLabelValues(SourceStale),
		minimal:        pops.WithLabelValues(SourceMinimal),
		duration:       dur,
		refreshOK:      refresh.WithLabelValues("ok"),
		refreshFailed:  refresh.WithLabelValues("failed"),
		refreshSkipped: refresh.WithLabelValues("skipped"),
		refreshDropped: refresh.WithLabelValues("dropped"),
	}
}

func (m *metrics) count(source string) {
	switch source {
	case SourceCRM:
		m.crm.Inc()
	case SourceCache:
		m.cache.Inc()
	case SourceStale:
		m.stale.Inc()
	default:
		m.minimal.Inc()
	}
}
