package drill

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// outboxStatus is the report's view of the outbox section of /v1/status.
type outboxStatus struct {
	Pending          int     `json:"pending"`
	Inflight         int     `json:"inflight"`
	Dead             int     `json:"dead"`
	Blocked          int     `json:"blocked"`
	OldestPendingAge float64 `json:"oldest_pending_age_seconds"`
}

// Sample is one reading of /v1/status during the drill.
type Sample struct {
	Time     time.Time         `json:"time"`
	Breakers map[string]string `json:"breakers,omitempty"` // dep -> closed/open/half-open
	Outbox   *outboxStatus     `json:"outbox,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// sampler reads /v1/status every second and notices restarts.
type sampler struct {
	admin *adminAPI

	mu        sync.Mutex
	samples   []Sample
	startedAt time.Time
	events    []Event
}

// Event is something notable the drill saw, such as a target restart.
type Event struct {
	Time time.Time `json:"time"`
	What string    `json:"what"`
}

func (s *sampler) event(what string) {
	s.mu.Lock()
	s.events = append(s.events, Event{time.Now(), what})
	s.mu.Unlock()
}

// run samples until ctx ends.
func (s *sampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sampler) sample(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := s.admin.status(sctx)
	sm := Sample{Time: time.Now()}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		sm.Error = shortErr(err)
	} else {
		sm.Breakers = map[string]string{}
		for _, d := range st.Dependencies {
			sm.Breakers[string(d.Name)] = string(d.Breaker)
		}
		sm.Outbox = outboxOf(st.Outbox)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if !s.startedAt.IsZero() && !st.StartedAt.Equal(s.startedAt) {
			s.events = append(s.events, Event{sm.Time, fmt.Sprintf("target restarted (started_at %s, was %s): faults it held are gone, accepted jobs must survive on its data dir", st.StartedAt.Format(time.RFC3339), s.startedAt.Format(time.RFC3339))})
		}
		s.startedAt = st.StartedAt
	}
	s.samples = append(s.samples, sm)
}

func (s *sampler) snapshot() ([]Sample, []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...), append([]Event(nil), s.events...)
}

// probe is one fresh request asking whether a dependency answers again.
type probe struct {
	Time     time.Time // when the answer came
	OK       bool
	Source   string
	Degraded bool
}

// prober sends one fresh request per dependency every interval: a screen
// pop for a number never asked before (crm; a cached number would answer
// from cache and say nothing about the CRM), a new Dialogflow session, an
// identity check, a recording.
type prober struct {
	t  *target
	mu sync.Mutex
	by map[string][]probe
}

var probeOps = map[string]Operation{"crm": OpScreenPop, "dialogflow": OpDialogflow, "identity": OpIdentity, "blob": OpRecording}

func (p *prober) run(ctx context.Context, dep string, every time.Duration) {
	op := probeOps[dep]
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if p.t.isUnavailable(op) {
			return // not wired on this sidecar: nothing to probe
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r := result{Op: op, Start: time.Now()}
		var err error
		n := p.t.next()
		switch op {
		case OpScreenPop:
			err = p.t.screenPop(rctx, p.t.freshPhone(n), &r)
		case OpDialogflow:
			err = p.t.dialogflow(rctx, n, &r)
		case OpIdentity:
			err = p.t.identity(rctx, &r)
		case OpRecording:
			err = p.t.recording(rctx, p.t.interaction(n), &r)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.t.finish(&r, err) // notices "not configured"
		if r.Unavailable {
			return
		}
		p.mu.Lock()
		p.by[dep] = append(p.by[dep], probe{Time: time.Now(), OK: err == nil, Source: r.Source, Degraded: r.Degraded})
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recoveredAt is the first probe answer at or after from that came from
// source and was not degraded.
func (p *prober) recoveredAt(dep, source string, from time.Time) (probe, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.by[dep] {
		if !pr.Time.Before(from) && pr.OK && pr.Source == source && !pr.Degraded {
			return pr, true
		}
	}
	return probe{}, false
}

// lastBefore is the last probe answer before t, for evidence.
func (p *prober) sourcesSince(dep string, from time.Time) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, pr := range p.by[dep] {
		if !pr.Time.Before(from) {
			k := pr.Source
			if !pr.OK {
				k = "error"
			}
			out[k]++
		}
	}
	return out
}

// BreakerChange is a breaker moving from one state to another.
type BreakerChange struct {
	Time       time.Time `json:"time"`
	Dependency string    `json:"dependency"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Source     string    `json:"source"` // audit (exact) or status (sampled every second)
}

// breakerChanges reads the breakers' own transitions from the audit log
// since start; when the log cannot be read it derives them from samples.
func breakerChanges(ctx context.Context, admin *adminAPI, since time.Time, samples []Sample) []BreakerChange {
	if entries, err := admin.audit(ctx, since.Add(-time.Second), 10000); err == nil {
		var ch []BreakerChange
		for _, e := range entries {
			if e.Action != "breaker.state" || e.Time.Before(since) {
				continue
			}
			var from, to string
			if e.Details != nil {
				from, _ = (*e.Details)["from"].(string)
				to, _ = (*e.Details)["to"].(string)
			}
			ch = append(ch, BreakerChange{e.Time, e.Target, from, to, "audit"})
		}
		return ch
	}
	var ch []BreakerChange
	last := map[string]string{}
	for _, s := range samples {
		for dep, st := range s.Breakers {
			if prev, ok := last[dep]; ok && prev != st {
				ch = append(ch, BreakerChange{s.Time, dep, prev, st, "status"})
			}
			last[dep] = st
		}
	}
	return ch
}
