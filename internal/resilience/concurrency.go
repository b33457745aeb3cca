package resilience

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/common"
	"github.com/failsafe-go/failsafe-go/ratelimiter"

	"github.com/holdline/holdline/internal/config"
)

// ConcurrencyStatus is a dependency's concurrency limit now: the fixed
// bulkhead's max_concurrent, or where the adaptive limiter has put it.
type ConcurrencyStatus struct {
	Mode     string `json:"mode"`     // fixed or adaptive
	Limit    int    `json:"limit"`    // calls allowed in flight now
	Min      int    `json:"min"`      // the lowest the limit may go (= Max when fixed)
	Max      int    `json:"max"`      // the highest the limit may go
	Inflight int    `json:"inflight"` // calls holding a permit now
	Queued   int    `json:"queued"`   // calls waiting for a permit (adaptive with queue only)
}

// concurrency is the outermost policy of both executors: it admits a call
// or refuses it at once (bulkhead.ErrFull, or errLimitExceeded when
// adaptive). It is one failsafe policy that is its own stateless executor,
// like noWaitLimiter: failsafe-go v0.9.8's bulkhead executor arms a timer
// path and allocates its channel-based context wait on every call, and
// its adaptive limiter executor records a sample for calls its inner
// policies refused without calling the dependency.
type concurrency interface {
	failsafe.Policy[any]
	status() ConcurrencyStatus
}

// sampleWindow is how an adaptive limiter collects its latency samples
// between two limit changes (adaptivelimiter's WithRecentWindow).
type sampleWindow struct {
	min, max time.Duration
	samples  uint
}

// newConcurrency builds the policy b configures; w, when not nil,
// replaces the adaptive limiter's default sampling window.
func newConcurrency(b config.Bulkhead, w *sampleWindow) concurrency {
	if !b.Adaptive() {
		return &fixedConcurrency{bh: bulkhead.New[any](uint(b.MaxConcurrent)), max: b.MaxConcurrent}
	}
	lb := adaptivelimiter.NewBuilder[any]().
		WithLimits(uint(b.MinConcurrent), uint(b.MaxConcurrent), uint(b.InitialConcurrent))
	if w != nil {
		lb = lb.WithRecentWindow(w.min, w.max, w.samples)
	}
	if b.Queue > 0 {
		lb = lb.WithQueueing(b.Queue, b.Queue)
	}
	return &adaptiveConcurrency{l: lb.Build(), queue: b.Queue > 0, min: b.MinConcurrent, max: b.MaxConcurrent}
}

// errLimitExceeded refuses a call over the adaptive limit. It is both
// adaptivelimiter.ErrExceeded and bulkhead.ErrFull, so that everything
// that handles a full bulkhead (the outcome label, the outbox's pause,
// a degraded screen pop) handles it the same way.
var errLimitExceeded error = limitExceededError{}

type limitExceededError struct{}

func (limitExceededError) Error() string { return "concurrency limit exceeded" }
func (limitExceededError) Is(target error) bool {
	return target == adaptivelimiter.ErrExceeded || target == bulkhead.ErrFull
}

// fixedConcurrency is the fixed bulkhead: max_concurrent permits.
type fixedConcurrency struct {
	bh       bulkhead.Bulkhead[any]
	max      int
	inflight atomic.Int64
}

func (c *fixedConcurrency) ToExecutor(any) any { return c }

func (c *fixedConcurrency) Apply(inner func(failsafe.Execution[any]) *common.PolicyResult[any]) func(failsafe.Execution[any]) *common.PolicyResult[any] {
	return func(e failsafe.Execution[any]) *common.PolicyResult[any] {
		if !c.bh.TryAcquirePermit() {
			return &common.PolicyResult[any]{Error: bulkhead.ErrFull, Done: true}
		}
		c.inflight.Add(1)
		defer func() {
			c.inflight.Add(-1)
			c.bh.ReleasePermit()
		}()
		return inner(e)
	}
}

func (c *fixedConcurrency) status() ConcurrencyStatus {
	n := int(c.inflight.Load())
	return ConcurrencyStatus{Mode: "fixed", Limit: c.max, Min: c.max, Max: c.max, Inflight: n}
}

// adaptiveConcurrency is failsafe-go's adaptive limiter. Each call takes
// one permit (a read's retries and hedges run under it), and its duration
// is a sample of the dependency's latency only if the dependency was
// called: a call the breaker or the rate limiter refused, or whose caller
// gave up, gives its permit back without a sample.
type adaptiveConcurrency struct {
	l        adaptivelimiter.AdaptiveLimiter[any]
	queue    bool
	min, max int
}

func (c *adaptiveConcurrency) ToExecutor(any) any { return c }

func (c *adaptiveConcurrency) Apply(inner func(failsafe.Execution[any]) *common.PolicyResult[any]) func(failsafe.Execution[any]) *common.PolicyResult[any] {
	return func(e failsafe.Execution[any]) *common.PolicyResult[any] {
		permit, err := c.acquire(e.Context())
		if err != nil {
			return &common.PolicyResult[any]{Error: err, Done: true}
		}
		r := inner(e)
		if r == nil || sampled(r.Error) {
			permit.Record()
		} else {
			permit.Drop()
		}
		return r
	}
}

// acquire takes a permit: at once, or with queueing, waiting while the
// queue is short enough, at most until ctx (the call's timeout) ends.
func (c *adaptiveConcurrency) acquire(ctx context.Context) (adaptivelimiter.Permit, error) {
	if !c.queue {
		if p, ok := c.l.TryAcquirePermit(); ok {
			return p, nil
		}
		return nil, errLimitExceeded
	}
	p, err := c.l.AcquirePermit(ctx)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, context.Canceled):
		return nil, err
	}
	// The queue was too long, or the call's deadline came while it
	// waited: refused like a full bulkhead.
	return nil, errLimitExceeded
}

// sampled reports whether a call that ended with err says anything about
// the dependency's latency.
func sampled(err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, circuitbreaker.ErrOpen), errors.Is(err, ratelimiter.ErrExceeded):
		return false
	}
	return true
}

func (c *adaptiveConcurrency) status() ConcurrencyStatus {
	return ConcurrencyStatus{Mode: "adaptive", Limit: c.l.Limit(), Min: c.min, Max: c.max, Inflight: c.l.Inflight(), Queued: c.l.Queued()}
}
