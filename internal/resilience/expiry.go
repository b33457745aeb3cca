package resilience

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A cut says which deadline, if any, ended a failed attempt.
type cut int

const (
	cutNone     cut = iota
	cutByPolicy     // the dependency's policy timeout
	cutByCaller     // the caller's own deadline (its budget)
)

// classify wraps an attempt's error with what the breaker and the retry
// policy must know about it: which deadline cut it (a *timeoutError or a
// *budgetError), or that the caller gave up (a *canceledError, unwrapped
// again before the caller sees it).
func (d *Dependency) classify(ctx, tctx context.Context, deadline time.Time, err error) error {
	if c := expiredBy(ctx, tctx, deadline, err); c != cutNone {
		return d.cutError(c, err)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &canceledError{err: err}
	}
	return err
}

// cutError wraps err for the deadline c that cut it.
func (d *Dependency) cutError(c cut, err error) error {
	switch c {
	case cutByPolicy:
		return &timeoutError{limit: d.timeout, err: err}
	case cutByCaller:
		return &budgetError{err: err}
	}
	return err
}

// isCut reports whether err says a deadline cut the call.
func isCut(err error) bool {
	return errors.As(err, new(*timeoutError)) || errors.As(err, new(*budgetError))
}

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

// canceledError marks an attempt that failed because its caller gave up,
// whatever error the callee made of that: it is context.Canceled, so that
// neither the breaker nor the retry policy counts it.
type canceledError struct {
	err error
}

func (e *canceledError) Error() string        { return e.err.Error() }
func (e *canceledError) Is(target error) bool { return target == context.Canceled }
func (e *canceledError) Unwrap() error        { return e.err }

// panicError carries a panic out of an attempt through the policies, which
// count it as a failure and release their permits; run re-raises it.
type panicError struct {
	value any
}

func (e *panicError) Error() string { return fmt.Sprintf("resilience: call panicked: %v", e.value) }
