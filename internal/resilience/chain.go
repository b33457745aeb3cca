package resilience

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// buildChain composes p's policies into d's two executors. Each policy is
// built once and both executors share it, so a read and a write take
// permits from the same bulkhead (fixed or adaptive, see concurrency.go)
// and are counted by the same breaker:
//
//	write: bulkhead -> rate limiter -> breaker -> fn
//	read:  bulkhead -> rate limiter -> retry -> breaker -> hedge -> fn
//
// The write executor has no retry or hedge policy at all: nothing can
// send a write twice. In the read executor the breaker sits inside the
// retry policy, so it counts every attempt (a dependency failing half its
// requests is seen failing half, however many calls retries rescue) and,
// once it opens, refuses the next retry with ErrOpen, which ends the call;
// it sits outside the hedge policy, so it sees one outcome per attempt and
// never the cancellation of a hedge's loser. A bulkhead refusal counts
// as a breaker failure too (see Dependency.call): a full bulkhead is
// calls the dependency has not answered. The policy timeout is the
// deadline of the context the executors run with (see Read).
func (d *Dependency) buildChain(p config.Policy, w *sampleWindow) {
	b := p.Breaker
	d.breaker = circuitbreaker.NewBuilder[any]().
		HandleIf(d.breakerFailure).
		WithFailureRateThreshold(b.FailureRate, uint(b.MinRequests), b.Window.D()).
		WithDelay(b.OpenFor.D()).
		WithSuccessThreshold(uint(b.HalfOpenProbes)).
		OnStateChanged(d.breakerChanged).
		Build()

	d.limiter = newConcurrency(p.Bulkhead, w)
	outer := []failsafe.Policy[any]{d.limiter}
	if p.RateLimit.PerSecond > 0 {
		outer = append(outer, &noWaitLimiter{ratelimiter.NewBursty[any](uint(p.RateLimit.PerSecond), time.Second)})
	}
	d.write = failsafe.With(append(outer[:len(outer):len(outer)], d.breaker)...)

	read := outer[:len(outer):len(outer)]
	if p.Retry.MaxAttempts > 1 {
		backoff := max(p.Retry.Backoff.D(), time.Millisecond)
		read = append(read, retrypolicy.NewBuilder[any]().
			HandleIf(func(_ any, err error) bool { return retryable(err) }).
			WithMaxAttempts(p.Retry.MaxAttempts).
			WithBackoff(backoff, 10*backoff).
			WithJitterFactor(0.5).
			ReturnLastFailure().
			Build())
	}
	read = append(read, d.breaker)
	d.readOne = failsafe.With(slices.Clip(read)...)
	d.read = d.readOne
	if p.Hedge.Delay > 0 {
		d.hedged, d.hedge = true, p.Hedge.Delay.D()
		read = append(slices.Clip(read), hedgepolicy.NewBuilderWithDelay[any](d.hedge).
			// Wait for the other attempt unless this one is final.
			CancelIf(func(_ any, err error) bool { return err == nil || !retryable(err) }).
			Build())
		d.read = failsafe.With(read...)
	}
}

// breakerFailure is the breaker's failure condition for one attempt. A
// caller that gave up, a permanent answer and an egress denial (a
// configuration problem, not the dependency's) do not count; a deadline
// does, the caller's included, because a dependency too slow for its
// callers is failing them. Forced closed, nothing counts.
func (d *Dependency) breakerFailure(_ any, err error) bool {
	switch {
	case err == nil, d.BreakerMode() == BreakerClosed:
		return false
	case isCut(err):
		return true
	case errors.Is(err, context.Canceled), upstream.IsPermanent(err), errors.Is(err, ErrEgressDenied):
		return false
	}
	return true
}

// retryable reports whether another attempt may help.
func retryable(err error) bool {
	switch {
	case err == nil, upstream.IsPermanent(err), errors.Is(err, ErrEgressDenied), errors.Is(err, circuitbreaker.ErrOpen),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		isCut(err), errors.As(err, new(*panicError)):
		return false
	}
	return true
}
