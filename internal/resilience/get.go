package resilience

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errTimeoutCause marks the policy timeout's context, to tell it from the
// caller's deadline.
var errTimeoutCause = errors.New("resilience: policy timeout")

// Get runs fn through d's policy chain:
//
//	bulkhead -> rate limiter -> circuit breaker -> timeout -> retry/hedge -> fn
//
// The bulkhead and rate limiter reject at once (bulkhead.ErrFull,
// ratelimiter.ErrExceeded); an open breaker returns circuitbreaker.ErrOpen
// without calling fn; the timeout cancels the ctx passed to fn and then
// returns an error that is timeout.ErrExceeded. Only when idempotent is
// true are failed attempts retried with jittered backoff and, with a hedge
// delay configured, a second attempt started when the first is slow; hedged
// attempts run concurrently, so fn must be safe for that and must release
// whatever it acquires before returning. Permanent errors (IsPermanent) and
// egress denials are never retried and, like a caller's cancellation, never
// count as breaker failures; a caller deadline that expires mid-call does
// count, because a dependency too slow for its callers is failing them.
//
// Every call is counted in holdline_dependency_requests_total{operation=op}
// and in d.Status(). Get is safe for concurrent use.
func Get[R any](ctx context.Context, d *Dependency, op string, idempotent bool, fn func(ctx context.Context) (R, error)) (R, error) {
	if idempotent && d.hedged {
		// Hedged attempts run concurrently: results travel through failsafe.
		v, err := d.call(ctx, op, true, func(ctx context.Context) (any, error) {
			r, err := fn(ctx)
			return r, err
		})
		r, _ := v.(R)
		return r, err
	}
	// Attempts are sequential: capture the result instead of boxing it.
	var res R
	_, err := d.call(ctx, op, idempotent, func(ctx context.Context) (any, error) {
		r, err := fn(ctx)
		res = r
		return nil, err
	})
	if err != nil {
		var zero R
		return zero, err
	}
	return res, nil
}

// call runs attempt through the chain and records the outcome.
func (d *Dependency) call(ctx context.Context, op string, idempotent bool, attempt func(context.Context) (any, error)) (any, error) {
	om := d.ops.get(d.metrics, d.name, op)
	start := d.now()
	v, err, oc := d.run(ctx, idempotent, attempt)
	end := d.now()
	elapsed := end.Sub(start)
	om.requests[oc].Inc()
	om.duration.Observe(elapsed.Seconds())
	failed := oc != outcomeSuccess && oc != outcomePermanent && oc != outcomeCanceled
	var why string
	if failed {
		why = Reason(d.name, err)
	}
	// Calls refused before fn ran say nothing about the dependency's latency.
	rejected := oc == outcomeCircuitOpen || oc == outcomeBulkheadFull ||
		(oc == outcomeRateLimited && errors.Is(err, ratelimiter.ErrExceeded))
	d.stats.record(end, elapsed, failed, !rejected, why)
	d.noteAuth(oc, err)
	return v, err
}

func (d *Dependency) run(ctx context.Context, idempotent bool, attempt func(context.Context) (any, error)) (any, error, outcome) {
	if err := ctx.Err(); err != nil {
		return nil, err, ctxOutcome(err)
	}
	mode := d.BreakerMode()
	if mode == BreakerOpen {
		return nil, circuitbreaker.ErrOpen, outcomeCircuitOpen
	}
	if !d.bulkhead.TryAcquirePermit() {
		return nil, bulkhead.ErrFull, outcomeBulkheadFull
	}
	defer d.bulkhead.ReleasePermit()
	if d.limiter != nil && !d.limiter.TryAcquirePermit() {
		return nil, ratelimiter.ErrExceeded, outcomeRateLimited
	}
	counted := mode == BreakerAuto
	if counted && !d.breaker.TryAcquirePermit() {
		return nil, circuitbreaker.ErrOpen, outcomeCircuitOpen
	}
	// From here on a breaker permit is held (in half-open state a probe
	// slot): every path must record an outcome to give it back.
	recorded := false
	defer func() {
		if counted && !recorded {
			d.breaker.RecordFailure() // fn panicked
		}
	}()

	policyDeadline := time.Now().Add(d.timeout)
	tctx, cancel := context.WithDeadlineCause(ctx, policyDeadline, errTimeoutCause)
	var v any
	var err error
	if idempotent && d.retry != nil {
		v, err = d.retry.WithContext(tctx).GetWithExecution(func(e failsafe.Execution[any]) (any, error) {
			if counted && e.Attempts() > 1 && !d.hedged {
				// A retry means the attempt before it failed. The breaker
				// counts that failure too, so retries cannot hide a sick
				// dependency (at 50% errors and 2 attempts a call succeeds
				// 75% of the time) while doubling its load; and once the
				// breaker has opened, no more retries are sent.
				d.breaker.RecordFailure()
				if !d.breaker.IsClosed() {
					return nil, circuitbreaker.ErrOpen
				}
			}
			return attempt(e.Context())
		})
		if ee := retrypolicy.AsExceededError(err); ee != nil && ee.LastError != nil {
			err = ee.LastError
		}
	} else {
		v, err = attempt(tctx)
	}
	cut := expiredBy(ctx, tctx, policyDeadline, err)
	cancel()

	oc := outcomeSuccess
	switch {
	case err == nil:
	case cut == cutByPolicy:
		err, oc = &timeoutError{limit: d.timeout, err: err}, outcomeTimeout
	case cut == cutByCaller:
		err, oc = &budgetError{err: err}, outcomeTimeout
	case IsPermanent(err):
		oc = outcomePermanent
	case ctx.Err() != nil:
		oc = ctxOutcome(ctx.Err())
	case isRateLimited(err):
		oc = outcomeRateLimited
	default:
		oc = outcomeFailure
	}
	if counted {
		recorded = true
		if breakerFailure(err, oc) {
			d.breaker.RecordFailure()
		} else {
			d.breaker.RecordSuccess()
		}
	}
	return v, err, oc
}

func ctxOutcome(err error) outcome {
	if errors.Is(err, context.DeadlineExceeded) {
		return outcomeTimeout
	}
	return outcomeCanceled
}

func isRateLimited(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == 429
}

// breakerFailure decides whether a finished call counts against the
// breaker. A caller's cancellation, a permanent answer and an egress denial
// (a configuration problem, not the dependency's) do not.
func breakerFailure(err error, oc outcome) bool {
	switch {
	case err == nil, oc == outcomePermanent, oc == outcomeCanceled:
		return false
	case errors.Is(err, ErrEgressDenied):
		return false
	}
	return true
}

// retryable reports whether another attempt may help.
func retryable(err error) bool {
	switch {
	case err == nil, IsPermanent(err), errors.Is(err, ErrEgressDenied), errors.Is(err, circuitbreaker.ErrOpen),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, timeout.ErrExceeded):
		return false
	}
	return true
}

// A cut says which deadline, if any, ended a failed attempt.
type cut int

const (
	cutNone     cut = iota
	cutByPolicy     // the dependency's policy timeout
	cutByCaller     // the caller's own deadline (its budget)
)

// expiredBy decides which deadline ended a call that failed with err. It
// decides by the deadlines themselves, never by which timer happened to
// fire first: a transport can report a deadline (gRPC's DEADLINE_EXCEEDED,
// os.ErrDeadlineExceeded, a net.Error timeout) a moment before, or instead
// of, the context's own timer, and the caller, the status page and the
// metrics must see the same reason whichever wins. The earlier of the two
// deadlines is the one that cut the call; when they are equal the caller's
// budget did. A caller that cancelled (not a deadline) is not a cut.
func expiredBy(ctx, tctx context.Context, policyDeadline time.Time, err error) cut {
	if err == nil || errors.Is(ctx.Err(), context.Canceled) {
		return cutNone
	}
	bound, by := policyDeadline, cutByPolicy
	if cd, ok := ctx.Deadline(); ok && !cd.After(policyDeadline) {
		bound, by = cd, cutByCaller
	}
	if tctx.Err() == nil && !(isDeadline(err) && !time.Now().Before(bound)) {
		return cutNone
	}
	return by
}

// isDeadline reports whether err is a transport's way of saying a deadline
// passed.
func isDeadline(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return true
	case status.Code(err) == codes.DeadlineExceeded:
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	return false
}
