package resilience

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdline/holdline/internal/upstream"
)

// errTimeoutCause marks the policy timeout's context, to tell it from the
// caller's deadline.
var errTimeoutCause = errors.New("resilience: policy timeout")

// Read runs fn, an idempotent call (a read, or a write that repeating
// changes nothing more, such as a cache SET), through d's read executor (bulkhead, rate limiter, retry, breaker, hedge; see
// buildChain). A failed attempt is retried up to retry.max_attempts with
// jittered backoff, and with hedge.delay set a second attempt starts when
// the first is slow. Hedged attempts run concurrently, so fn must be safe
// for that and must release whatever it acquires before returning.
// Permanent errors (upstream.IsPermanent), egress denials, deadlines and
// an open breaker end the call at once.
//
// The bulkhead and rate limiter reject at once (bulkhead.ErrFull,
// ratelimiter.ErrExceeded); an open breaker returns circuitbreaker.ErrOpen
// without calling fn. The policy timeout bounds the whole call, retries
// included: it is the deadline of the ctx that fn gets, and a call it cuts
// returns an error that is timeout.ErrExceeded, while one cut by the
// caller's own earlier deadline is context.DeadlineExceeded (Reason says
// "budget exhausted"). Both still unwrap to what fn returned. If fn
// panics, the panic is re-raised in the caller once every permit is given
// back.
//
// Every call is counted in holdline_dependency_requests_total{operation=op}
// and in d.Status(). Read is safe for concurrent use.
func Read[R any](ctx context.Context, d *Dependency, op string, fn func(ctx context.Context) (R, error)) (R, error) {
	if d.hedged && d.mayHedge(ctx) {
		// Hedged attempts run concurrently: results travel through failsafe.
		v, err := d.call(ctx, op, d.read, func(ctx context.Context) (any, error) {
			return fn(ctx)
		})
		r, _ := v.(R)
		return r, err
	}
	return sequential(ctx, d, op, d.readOne, fn)
}

// mayHedge reports whether a hedge could start before a call starting
// now ends: its hedge delay is shorter than the policy timeout and than
// what is left of ctx. Otherwise the deadline always comes first (the
// hedge policy starts no attempt once the call's context has ended), and
// the call skips the hedge policy and what it costs each call: a
// goroutine for the first attempt, a timer and a context of its own.
func (d *Dependency) mayHedge(ctx context.Context) bool {
	left := d.timeout
	if dl, ok := ctx.Deadline(); ok {
		left = min(left, time.Until(dl))
	}
	return d.hedge < left
}

// Write runs fn, a call that changes state at the dependency, through d's
// write executor (bulkhead, rate limiter, breaker; see buildChain): fn runs
// at most once, whatever retry and hedge policy d has. A write that must
// survive a failure is made durable elsewhere (the outbox retries it with
// an idempotency key). Rejections, the policy timeout, panics, metrics and
// stats are as for Read. Write is safe for concurrent use.
func Write[R any](ctx context.Context, d *Dependency, op string, fn func(ctx context.Context) (R, error)) (R, error) {
	return sequential(ctx, d, op, d.write, fn)
}

// sequential runs fn through ex when its attempts never overlap: the
// result is captured instead of boxed.
func sequential[R any](ctx context.Context, d *Dependency, op string, ex failsafe.Executor[any], fn func(ctx context.Context) (R, error)) (R, error) {
	var res R
	_, err := d.call(ctx, op, ex, func(ctx context.Context) (any, error) {
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

// call runs attempt through ex and records the outcome.
func (d *Dependency) call(ctx context.Context, op string, ex failsafe.Executor[any], attempt func(context.Context) (any, error)) (any, error) {
	om := d.ops.get(d.metrics, d.name, op)
	ctx, span := d.startCall(ctx, op) // nil with tracing off (trace.go)
	start := d.now()
	v, err, oc, ran := d.run(ctx, ex, attempt)
	endCall(span, oc, ran, err)
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
	d.stats.record(end, elapsed, failed, ran, why)
	if oc == outcomeBulkheadFull && d.BreakerMode() == BreakerAuto {
		// The bulkhead sits outside the breaker, which never sees its
		// refusals. Full, it holds calls the dependency has not answered:
		// one that hangs would otherwise show the breaker at most
		// max_concurrent failures per timeout, however many calls it
		// fails, and not open as surely as one that answers 503.
		d.breaker.RecordFailure()
	}
	d.noteAuth(oc, err)
	return v, err
}

// run executes attempt through ex under the policy timeout and classifies
// the result. ran reports whether attempt was called at all.
func (d *Dependency) run(ctx context.Context, ex failsafe.Executor[any], attempt func(context.Context) (any, error)) (v any, err error, oc outcome, ran bool) {
	if err := ctx.Err(); err != nil {
		return nil, err, ctxOutcome(err), false
	}
	if d.BreakerMode() == BreakerOpen {
		// An operator's open is held by hand: failsafe's Open() lets the
		// breaker half-open after open_for, and a forced open must hold
		// until the operator lifts it.
		return nil, circuitbreaker.ErrOpen, outcomeCircuitOpen, false
	}
	// The policy timeout is a context deadline rather than failsafe's
	// timeout policy: that one cancels without a deadline (gRPC could not
	// send it on), reports whichever of its timer and the answer comes
	// first (the reason would depend on a race), and turns an answer that
	// arrived after its timer into ErrExceeded (a callee that ignores ctx,
	// such as a GCS chunk upload, would count as failing when it did not).
	a := &attempts{d: d, ctx: ctx, deadline: time.Now().Add(d.timeout), fn: attempt}
	var cancel context.CancelFunc
	a.tctx, cancel = context.WithDeadlineCause(ctx, a.deadline, errTimeoutCause)
	defer cancel()
	if ex == d.read && d.hedged {
		// Each hedged attempt has its own context, canceled when another wins.
		v, err = ex.WithContext(a.tctx).GetWithExecution(func(e failsafe.Execution[any]) (any, error) { return a.run(e.Context(), e.IsHedge()) })
	} else {
		v, err = ex.WithContext(a.tctx).Get(func() (any, error) { return a.run(a.tctx, false) })
	}
	if pe := a.panicked.Load(); pe != nil {
		if d.tracer != nil {
			endPanicked(trace.SpanFromContext(ctx))
		}
		panic(pe.value)
	}
	ran = a.started.Load()
	if d.tracer != nil {
		trace.SpanFromContext(ctx).SetAttributes(attrAttempts.Int(int(a.n.Load())))
	}
	if ce, ok := err.(*canceledError); ok {
		err = ce.err
	}
	if err != nil && !isCut(err) {
		// A retry or hedge policy that saw the context end returns the
		// context's error instead of the attempt's: decide it the same way.
		err = d.cutError(expiredBy(ctx, a.tctx, a.deadline, err), err)
	}
	return v, err, d.outcome(ctx, err, ran), ran
}

// attempts is one call's state, shared by its attempts.
type attempts struct {
	d         *Dependency
	ctx, tctx context.Context // the caller's, and with the policy deadline
	deadline  time.Time       // the policy deadline
	fn        func(context.Context) (any, error)
	started   atomic.Bool
	n         atomic.Int32 // attempts started, counted only when tracing
	panicked  atomic.Pointer[panicError]
}

// run makes one attempt with ctx, classifying its error (see classify). A
// panic becomes a *panicError, so that the policies count a failure and
// give their permits back before Dependency.run re-raises it. hedge says
// whether the attempt is a hedge, for its span.
func (a *attempts) run(ctx context.Context, hedge bool) (v any, err error) {
	a.started.Store(true)
	if a.d.tracer != nil {
		var span trace.Span
		ctx, span = a.d.startAttempt(ctx, a.n.Add(1), hedge)
		defer func() { endAttempt(span, err) }() // runs last: sees a recovered panic
	}
	defer func() {
		if p := recover(); p != nil {
			pe := &panicError{value: p}
			a.panicked.CompareAndSwap(nil, pe)
			v, err = nil, pe
		}
	}()
	v, err = a.fn(ctx)
	if err != nil {
		err = a.d.classify(a.ctx, a.tctx, a.deadline, err)
	}
	return v, err
}

// outcome is the outcome label of a finished call.
func (d *Dependency) outcome(ctx context.Context, err error, ran bool) outcome {
	switch {
	case err == nil:
		return outcomeSuccess
	case !ran && errors.Is(err, circuitbreaker.ErrOpen):
		return outcomeCircuitOpen
	case !ran && errors.Is(err, bulkhead.ErrFull):
		return outcomeBulkheadFull
	case !ran && errors.Is(err, ratelimiter.ErrExceeded):
		return outcomeRateLimited
	case isCut(err):
		return outcomeTimeout
	case upstream.IsPermanent(err):
		return outcomePermanent
	case ctx.Err() != nil:
		return ctxOutcome(ctx.Err())
	case upstream.IsRateLimited(err):
		return outcomeRateLimited
	}
	return outcomeFailure
}

func ctxOutcome(err error) outcome {
	if errors.Is(err, context.DeadlineExceeded) {
		return outcomeTimeout
	}
	return outcomeCanceled
}
