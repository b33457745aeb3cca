package sidecar

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// spoolMetrics are the holdline_spool_* metrics of this sidecar's spool,
// labelled with its owner id (the id its upload jobs carry).
type spoolMetrics struct {
	lost prometheus.Counter
}

// newSpoolMetrics registers the spool gauges (read from the spool
// directory at each scrape), the configured cap (maxBytes,
// recordings.spool_max_bytes, so that an alert can compare the two) and the
// lost-recordings counter on reg.
func newSpoolMetrics(reg prometheus.Registerer, owner string, spool *blob.Spool, maxBytes int64) (*spoolMetrics, error) {
	labels := prometheus.Labels{"owner": owner}
	stat := func(f func(blob.SpoolStats) float64) func() float64 {
		return func() float64 {
			st, err := spool.Stats()
			if err != nil {
				return 0
			}
			return f(st)
		}
	}
	m := &spoolMetrics{lost: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "holdline_spool_lost_total", ConstLabels: labels,
		Help: "Spooled recordings whose file was gone when their upload ran (the data_dir was lost); each is a dead upload job. Alert on any increase.",
	})}
	cs := []prometheus.Collector{
		m.lost,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "holdline_spool_files", ConstLabels: labels,
			Help: "Recordings held in this sidecar's spool, waiting for the store."},
			stat(func(st blob.SpoolStats) float64 { return float64(st.Files) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "holdline_spool_bytes", ConstLabels: labels,
			Help: "Bytes of the recordings held in this sidecar's spool."},
			stat(func(st blob.SpoolStats) float64 { return float64(st.Bytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "holdline_spool_max_bytes", ConstLabels: labels,
			Help: "The spool's cap, recordings.spool_max_bytes: alert on holdline_spool_bytes / holdline_spool_max_bytes."},
			func() float64 { return float64(maxBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "holdline_spool_oldest_age_seconds", ConstLabels: labels,
			Help: "Age of the oldest recording in this sidecar's spool, 0 when it is empty."},
			stat(func(st blob.SpoolStats) float64 {
				if st.Oldest.IsZero() {
					return 0
				}
				return max(0, time.Since(st.Oldest).Seconds())
			})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "holdline_spool_full", ConstLabels: labels,
			Help: "1 while the spool refuses recordings (recordings.spool_max_bytes or spool_reserve_bytes reached): uploads the store cannot take get 507."},
			stat(func(st blob.SpoolStats) float64 {
				if st.Full != "" {
					return 1
				}
				return 0
			})),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// spoolOwner is what the fleet's unfinished upload jobs say of one owner.
type spoolOwner struct {
	Jobs             int     `json:"jobs"`
	Bytes            int64   `json:"bytes"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// uploadsByOwner adds store's unfinished (pending, inflight or dead)
// upload jobs to owners. It reads all states in one listing, so that a job
// moving from pending to inflight meanwhile is counted once; it reads at
// most a few thousand jobs: a status read must stay cheap.
func uploadsByOwner(ctx context.Context, store outbox.Store, now time.Time, owners map[string]*spoolOwner) error {
	f := outbox.Filter{Kind: timeline.KindBlobUpload, Limit: 1000}
	for range 5 {
		page, next, err := store.List(ctx, f)
		if err != nil {
			return err
		}
		for _, jb := range page {
			if jb.State == outbox.Done {
				continue
			}
			p, _ := timeline.DecodeUpload(jb)
			o := owners[p.Owner]
			if o == nil {
				o = &spoolOwner{}
				owners[p.Owner] = o
			}
			o.Jobs++
			o.Bytes += p.Size
			o.OldestAgeSeconds = max(o.OldestAgeSeconds, now.Sub(jb.CreatedAt).Seconds())
		}
		if next == "" {
			return nil
		}
		f.Cursor = next
	}
	return nil
}

// spoolFull reports whether the spool refuses recordings now.
func (j *jobs) spoolFull() bool {
	if j.spool == nil {
		return false
	}
	st, err := j.spool.Stats()
	return err == nil && st.Full != ""
}
