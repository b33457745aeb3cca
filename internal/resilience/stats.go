package resilience

import (
	"slices"
	"sync"
	"time"
)

const (
	statSlots   = 60   // one per second: the last minute
	latencyKeep = 1024 // latency samples kept for p50/p99
)

// stats keeps what Status reports over the last minute: a per-second ring
// of calls and failures, and the latest latencies. One short critical
// section per call; nothing allocates.
type stats struct {
	mu    sync.Mutex
	ring  [statSlots]slot
	lat   [latencyKeep]sample
	next  int // next lat index
	lastE string
	lastT time.Time
	lastS time.Time
}

type slot struct {
	sec      int64
	calls    int64
	failures int64
}

type sample struct {
	at time.Time
	d  time.Duration
}

func (s *stats) record(now time.Time, d time.Duration, failed, sampled bool, errReason string) {
	sec := now.Unix()
	s.mu.Lock()
	sl := &s.ring[sec%statSlots]
	if sl.sec != sec {
		*sl = slot{sec: sec}
	}
	sl.calls++
	if failed {
		sl.failures++
		s.lastE, s.lastT = errReason, now
	} else {
		s.lastS = now
	}
	if sampled {
		s.lat[s.next] = sample{at: now, d: d}
		s.next = (s.next + 1) % latencyKeep
	}
	s.mu.Unlock()
}

// window sums the last minute up to now.
type window struct {
	calls, failures int64
	p50, p99        time.Duration
	lastErr         string
	lastErrAt       time.Time
	lastOKAt        time.Time
}

func (s *stats) window(now time.Time) window {
	var w window
	from := now.Add(-time.Minute)
	sec := now.Unix()
	ds := make([]time.Duration, 0, 64)
	s.mu.Lock()
	for _, sl := range s.ring {
		if sl.sec > sec-statSlots && sl.sec <= sec {
			w.calls += sl.calls
			w.failures += sl.failures
		}
	}
	for _, x := range s.lat {
		if !x.at.IsZero() && x.at.After(from) {
			ds = append(ds, x.d)
		}
	}
	w.lastErr, w.lastErrAt, w.lastOKAt = s.lastE, s.lastT, s.lastS
	s.mu.Unlock()
	if len(ds) > 0 {
		slices.Sort(ds)
		w.p50 = ds[quantileIndex(len(ds), 0.50)]
		w.p99 = ds[quantileIndex(len(ds), 0.99)]
	}
	return w
}

// quantileIndex is the nearest-rank index of q in n sorted samples.
func quantileIndex(n int, q float64) int {
	i := int(q*float64(n)+0.999999) - 1
	return min(max(i, 0), n-1)
}
