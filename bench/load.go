package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Latency summarises one open-loop run: vegeta sends at a fixed rate
// whatever the server does (more workers when responses are slow), so a
// stall shows up in the tail instead of slowing the generator down
// (no coordinated omission). Percentiles come from an HDR histogram
// (1 µs to 60 s, 3 significant digits); times are milliseconds.
type Latency struct {
	Rate     int     `json:"rate"`
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	// OK counts answers with the expected status.
	OK int `json:"ok"`
	// Within counts OK answers no slower than the run's budget (0 when
	// the run has none).
	Within int `json:"within,omitempty"`
	// Achieved is requests per second actually sent.
	Achieved float64 `json:"achieved_rps"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p999_ms"`
	Max      float64 `json:"max_ms"`
	// Errors counts failures by message (status or transport error).
	Errors map[string]int `json:"errors,omitempty"`
	// Steady is the same summary over the results that started at least
	// SteadyAfter into the run (wobble: after the breaker had time to open).
	Steady *Latency `json:"steady,omitempty"`
}

// attackSpec describes one open-loop run.
type attackSpec struct {
	name     string
	targeter vegeta.Targeter
	rate     int
	duration time.Duration
	// okCodes are the statuses that count as success (default 200).
	okCodes []int
	// budget, when set, fills Latency.Within.
	budget time.Duration
	// steadyAfter, when set, fills Latency.Steady.
	steadyAfter time.Duration
	timeout     time.Duration
	// workers, when set, makes the run closed-loop: that many workers
	// send as fast as answers come back (rate is ignored).
	workers int
	// maxConns, when set, caps the connections the generator opens
	// (requests wait for one), as a client's bounded pool would.
	maxConns int
	// observe, when set, sees every result (body included).
	observe func(*vegeta.Result)
}

// attack runs spec and summarises it.
func attack(ctx context.Context, spec attackSpec) Latency {
	if len(spec.okCodes) == 0 {
		spec.okCodes = []int{http.StatusOK}
	}
	if spec.timeout == 0 {
		spec.timeout = 30 * time.Second
	}
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(spec.timeout), vegeta.Workers(16), vegeta.Connections(10000)}
	if spec.maxConns > 0 {
		opts = append(opts, vegeta.MaxConnections(spec.maxConns))
	}
	pace := vegeta.Rate{Freq: spec.rate, Per: time.Second}
	if spec.workers > 0 {
		opts = append(opts, vegeta.Workers(uint64(spec.workers)), vegeta.MaxWorkers(uint64(spec.workers)))
		pace = vegeta.Rate{}
	}
	a := vegeta.NewAttacker(opts...)
	stop := context.AfterFunc(ctx, func() { a.Stop() })
	defer stop()
	all, steady := newSummary(spec), newSummary(spec)
	var began time.Time
	for r := range a.Attack(spec.targeter, pace, spec.duration, spec.name) {
		if began.IsZero() || r.Timestamp.Before(began) {
			began = r.Timestamp
		}
		all.add(r)
		if spec.observe != nil {
			spec.observe(r)
		}
		if spec.steadyAfter > 0 && r.Timestamp.Sub(began) >= spec.steadyAfter {
			steady.add(r)
		}
	}
	l := all.latency(spec.rate)
	if spec.steadyAfter > 0 {
		s := steady.latency(spec.rate)
		l.Steady = &s
	}
	return l
}

type summary struct {
	spec        attackSpec
	h           *hdrhistogram.Histogram
	n, ok, in   int
	first, last time.Time
	errs        map[string]int
}

func newSummary(spec attackSpec) *summary {
	return &summary{spec: spec, h: hdrhistogram.New(1, 60_000_000, 3), errs: map[string]int{}}
}

func (s *summary) add(r *vegeta.Result) {
	s.n++
	if s.first.IsZero() || r.Timestamp.Before(s.first) {
		s.first = r.Timestamp
	}
	if r.Timestamp.After(s.last) {
		s.last = r.Timestamp
	}
	_ = s.h.RecordValue(max(r.Latency.Microseconds(), 1))
	good := false
	for _, c := range s.spec.okCodes {
		if int(r.Code) == c && r.Error == "" {
			good = true
		}
	}
	if !good {
		msg := r.Error
		if msg == "" {
			msg = fmt.Sprintf("status %d", r.Code)
		}
		if len(msg) > 120 {
			msg = msg[:120]
		}
		s.errs[msg]++
		return
	}
	s.ok++
	if s.spec.budget > 0 && r.Latency <= s.spec.budget {
		s.in++
	}
}

func (s *summary) latency(rate int) Latency {
	ms := func(q float64) float64 { return float64(s.h.ValueAtQuantile(q)) / 1000 }
	l := Latency{Rate: rate, Requests: s.n, OK: s.ok, Within: s.in,
		P50: ms(50), P90: ms(90), P99: ms(99), P999: ms(99.9), Max: float64(s.h.Max()) / 1000}
	if d := s.last.Sub(s.first).Seconds(); d > 0 {
		l.Seconds = d
		l.Achieved = float64(s.n-1) / d
	}
	if len(s.errs) > 0 {
		l.Errors = topErrors(s.errs, 5)
	}
	return l
}

// topErrors keeps the n most frequent error messages.
func topErrors(m map[string]int, n int) map[string]int {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	out := map[string]int{}
	for i, e := range all {
		if i < n {
			out[e.k] = e.v
		} else {
			out["(other)"] += e.v
		}
	}
	return out
}

// phoneSeq hands out distinct, valid US numbers (+1 415 NXX XXXX), so
// that every screen pop misses the cache.
type phoneSeq struct{ n atomic.Int64 }

// next returns the next number.
func (p *phoneSeq) next() string { return phoneAt(p.n.Add(1)) }

// phoneAt returns the i-th number of the sequence.
func phoneAt(i int64) string {
	return fmt.Sprintf("+1415%03d%04d", exchange(i/10000), i%10000)
}

// exchange maps k onto the 792 exchanges 200-999 that are not N11
// service codes (211, 311, ... 911), cycling.
func exchange(k int64) int64 {
	k %= 792
	block, off := k/99, k%99
	if off >= 11 {
		off++
	}
	return 200 + block*100 + off
}

// keyedPhone returns the i-th number of a fixed working set (area code
// 628), for the cache-hit, wobble and footprint scenarios.
func keyedPhone(i int) string {
	return fmt.Sprintf("+1628%03d%04d", exchange(int64(i/10000)), i%10000)
}
