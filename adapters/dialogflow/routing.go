package dialogflow

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// newBreaker builds one environment's breaker from the dependency's
// breaker config, with a quarter of its min_requests so that it trips
// before the dependency-wide breaker (see the package doc). onChange may
// be nil.
func newBreaker(b config.Breaker, onChange func(circuitbreaker.StateChangedEvent)) circuitbreaker.CircuitBreaker[any] {
	rate := b.FailureRate
	if rate <= 0 || rate > 1 {
		rate = 0.5
	}
	minReq := b.MinRequests
	if minReq <= 0 {
		minReq = 20
	}
	window := b.Window.D()
	if window <= 0 {
		window = 30 * time.Second
	}
	openFor := b.OpenFor.D()
	if openFor <= 0 {
		openFor = 15 * time.Second
	}
	probes := b.HalfOpenProbes
	if probes <= 0 {
		probes = 3
	}
	bb := circuitbreaker.NewBuilder[any]().
		WithFailureRateThreshold(rate, uint(max(1, minReq/4)), window).
		WithDelay(openFor).
		WithSuccessThreshold(uint(probes))
	if onChange != nil {
		bb = bb.OnStateChanged(onChange)
	}
	return bb.Build()
}

// route picks the environment for a turn on session key and takes a
// permit from its breaker. A session with an affinity stays in the region
// it started in for its whole life, whatever region new sessions go to
// now and whatever its breaker says (Dialogflow keeps a session's state in
// its agent, so another region would start it over). A new session goes
// to the alias's active region (the operator's choice); when that
// environment's breaker is open and the alias has auto_failover, the
// client switches the active region to the other environment if its
// breaker admits the call (autoSwitch). ok is false when the chosen
// environment's breaker refuses the call: e is then that environment, for
// the fallback to name.
func (c *Client) route(a *agent, key string) (e *environment, ok bool) {
	if name, found := c.affinity.get(key, c.now()); found {
		if e := a.envNamed(name); e != nil {
			return e, e.breaker.TryAcquirePermit()
		}
		c.affinity.forget(key)
	}
	e = a.activeEnv()
	if e.breaker.TryAcquirePermit() {
		return e, true
	}
	if other := a.other(e); a.autoFailover && other != nil && other.breaker.TryAcquirePermit() {
		c.autoSwitch(a, e, other)
		return other, true
	}
	return e, false
}

// settle gives back the breaker permit route took. called says the
// request reached the gRPC client (the dependency chain admitted it);
// caller is the turn's incoming context.
//
// A caller's error (a permanent 4xx, see classify) moves nothing while
// closed. A call that never ran, or that the caller abandoned, says nothing about
// the environment: in the closed state there is nothing to give back, and
// in the half-open state the probe permit is returned as a failure, which
// keeps the region out of rotation for one more open_for rather than
// closing it on no evidence.
func (e *environment) settle(caller context.Context, called bool, err error) {
	noEvidence := !called || (err != nil && errors.Is(caller.Err(), context.Canceled))
	switch {
	case noEvidence:
		if e.breaker.IsHalfOpen() {
			e.breaker.RecordFailure()
		}
	case err == nil:
		e.breaker.RecordSuccess()
	case upstream.IsPermanent(err):
		// A caller's error (classify) says nothing about the environment's
		// health, so it does not move the failure rate; but it is an
		// answer, so a half-open probe that got one proves it is up.
		if e.breaker.IsHalfOpen() {
			e.breaker.RecordSuccess()
		}
	default:
		e.breaker.RecordFailure()
	}
}

// affinity remembers which environment each session runs on. It is
// bounded: entries idle longer than idle are expired, and past max
// entries the least recently used is dropped. Safe for concurrent use.
type affinity struct {
	max  int
	idle time.Duration

	mu sync.Mutex
	ll *list.List // of *affEntry, most recently used first
	m  map[string]*list.Element
}

type affEntry struct {
	key, env string
	last     time.Time
}

func newAffinity(max int, idle time.Duration) *affinity {
	return &affinity{max: max, idle: idle, ll: list.New(), m: map[string]*list.Element{}}
}

// get returns the environment of key's session unless it is unknown or
// has been idle too long.
func (a *affinity) get(key string, now time.Time) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	el, ok := a.m[key]
	if !ok {
		return "", false
	}
	en := el.Value.(*affEntry)
	if now.Sub(en.last) >= a.idle {
		a.ll.Remove(el)
		delete(a.m, key)
		return "", false
	}
	return en.env, true
}

// set records that key's session ran on env at now.
func (a *affinity) set(key, env string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.m[key]; ok {
		en := el.Value.(*affEntry)
		en.env, en.last = env, now
		a.ll.MoveToFront(el)
	} else {
		a.m[key] = a.ll.PushFront(&affEntry{key: key, env: env, last: now})
	}
	a.sweepLocked(now)
}

// forget ends key's session.
func (a *affinity) forget(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.m[key]; ok {
		a.ll.Remove(el)
		delete(a.m, key)
	}
}

// sweep drops expired sessions.
func (a *affinity) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked(now)
}

// sweepLocked drops sessions from the least recently used end while
// there are too many or they have expired.
func (a *affinity) sweepLocked(now time.Time) {
	for el := a.ll.Back(); el != nil; el = a.ll.Back() {
		en := el.Value.(*affEntry)
		if a.ll.Len() <= a.max && now.Sub(en.last) < a.idle {
			return
		}
		a.ll.Remove(el)
		delete(a.m, en.key)
	}
}

// len returns the number of sessions remembered.
func (a *affinity) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ll.Len()
}
