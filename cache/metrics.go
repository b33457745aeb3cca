package cache

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds every series pre-resolved, so that the hit path does no
// label lookups and no allocations.
type metrics struct {
	l1HitFresh, l1HitStale, l1Miss          prometheus.Counter
	l2HitFresh, l2HitStale, l2Miss, l2Error prometheus.Counter
	l2WriteOK, l2WriteError, l2WriteDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "holdline_cache_requests_total",
		Help: "Contact cache lookups by tier (l1, l2) and result (hit_fresh, hit_stale, miss, error).",
	}, []string{"tier", "result"})
	writes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "holdline_cache_l2_writes_total",
		Help: "Background writes to the Redis tier by result (ok, error, dropped: the write queue was full).",
	}, []string{"result"})
	if reg != nil {
		if err := errors.Join(reg.Register(requests), reg.Register(writes)); err != nil {
			return nil, err
		}
	}
	return &metrics{
		l1HitFresh:     requests.WithLabelValues("l1", "hit_fresh"),
		l1HitStale:     requests.WithLabelValues("l1", "hit_stale"),
		l1Miss:         requests.WithLabelValues("l1", "miss"),
		l2HitFresh:     requests.WithLabelValues("l2", "hit_fresh"),
		l2HitStale:     requests.WithLabelValues("l2", "hit_stale"),
		l2Miss:         requests.WithLabelValues("l2", "miss"),
		l2Error:        requests.WithLabelValues("l2", "error"),
		l2WriteOK:      writes.WithLabelValues("ok"),
		l2WriteError:   writes.WithLabelValues("error"),
		l2WriteDropped: writes.WithLabelValues("dropped"),
	}, nil
}
