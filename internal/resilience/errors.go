package resilience

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/timeout"
)

var (
	// ErrInjected is returned by a call that a drill fault failed on
	// purpose (see Faults). It counts as a breaker failure, like a real one.
	ErrInjected = errors.New("resilience: injected fault")

	// ErrEgressDenied is wrapped by a dial to a host or address that the
	// dependency's allowlist does not permit, including a permitted name
	// that resolves to a link-local, metadata, private or loopback address.
	// It is never retried.
	ErrEgressDenied = errors.New("resilience: egress denied")

	// ErrNoSecondary is wrapped (in a holdline ECONFLICT error) by
	// SetActiveEndpoint("secondary") for a dependency without a secondary
	// endpoint.
	ErrNoSecondary = errors.New("resilience: no secondary endpoint configured")
)

// The errors Get returns when it refuses or cuts a call are failsafe-go's
// sentinels, so callers use errors.Is with them directly:
//
//   - circuitbreaker.ErrOpen: the breaker is open (or forced open).
//   - bulkhead.ErrFull: max_concurrent calls are already in flight.
//   - ratelimiter.ErrExceeded: rate_limit.per_second was exceeded.
//   - timeout.ErrExceeded: the call took longer than the policy timeout.
//
// A context error (context.DeadlineExceeded, context.Canceled) means the
// caller's own budget ran out or the caller gave up.

// StatusError is a non-2xx HTTP answer from a dependency. Adapters return
// it so that the policies can tell permanent errors from transient ones.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// RetryAfter is the parsed Retry-After header, 0 when absent.
	RetryAfter time.Duration
	// Transient marks a 4xx that asking again later can fix, which an
	// adapter recognises from the dependency's error body: a spent quota
	// (Salesforce 403 REQUEST_LIMIT_EXCEEDED) or an expired session
	// (Salesforce 401 INVALID_SESSION_ID, fixed by a token renewal).
	// IsPermanent reports false for it, so it is retried later and counts
	// against the breaker instead of sending a job to dead.
	Transient bool
}

func (e *StatusError) Error() string { return "http " + strconv.Itoa(e.Code) }

// RetryDelay is RetryAfter: the outbox reads it (through an interface, to
// stay free of this package) as the earliest time to try a write again.
func (e *StatusError) RetryDelay() time.Duration { return e.RetryAfter }

// IsPermanent reports whether err is a 4xx StatusError other than 408, 425
// and 429 and not Transient: the dependency answered and asking again will
// not help. Permanent errors are never retried and do not count as breaker
// failures.
func IsPermanent(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) || se.Transient {
		return false
	}
	switch se.Code {
	case 408, 425, 429:
		return false
	}
	return se.Code >= 400 && se.Code < 500
}

// IsAuthFailure reports whether err is a StatusError 401: the dependency
// refused holdline's credentials. Writes must not be buried for it: the
// credentials are at fault, not the write.
func IsAuthFailure(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == 401
}

// noSecondary is what an operator is told when dep cannot fail over.
func noSecondary(dep string) string {
	if dep == "identity" {
		return "identity has no failover: JWKS and introspection use the issuer's URLs (identity.issuer, identity.introspection_url), not dependencies.identity.endpoints"
	}
	return dep + " has no secondary endpoint configured (dependencies." + dep + ".endpoints.secondary)"
}

// Reason returns a short, human reason for a degraded response, such as
// "crm: timeout" or "crm: circuit open". It says nothing internal (no
// hosts, URLs or tokens), so it is safe to show to clients. It returns ""
// for a nil err.
func Reason(dep string, err error) string {
	if err == nil {
		return ""
	}
	return dep + ": " + reason(err)
}

func reason(err error) string {
	var se *StatusError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen):
		return "circuit open"
	case errors.Is(err, bulkhead.ErrFull):
		return "bulkhead full"
	case errors.Is(err, ratelimiter.ErrExceeded):
		return "rate limited"
	case errors.Is(err, timeout.ErrExceeded):
		return "timeout"
	case errors.As(err, new(*budgetError)):
		return "budget exhausted"
	case errors.Is(err, ErrEgressDenied):
		return "egress denied"
	case errors.Is(err, ErrInjected):
		return "injected fault"
	case errors.As(err, &se):
		if se.Code == 429 {
			return "rate limited"
		}
		return se.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "budget exhausted"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.As(err, &dnsErr):
		return "dns error"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	return "error"
}

// timeoutError is what Get returns when the policy timeout cut the call: it
// is timeout.ErrExceeded and still unwraps to what fn returned.
type timeoutError struct {
	limit time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%v after %v: %v", timeout.ErrExceeded, e.limit, e.err)
}

func (e *timeoutError) Is(target error) bool { return target == timeout.ErrExceeded }
func (e *timeoutError) Unwrap() error        { return e.err }

// budgetError is what Get returns when the caller's own deadline cut the
// call: it is context.DeadlineExceeded and still unwraps to what fn
// returned (a transport's raw deadline error, say).
type budgetError struct {
	err error
}

func (e *budgetError) Error() string        { return "budget exhausted: " + e.err.Error() }
func (e *budgetError) Is(target error) bool { return target == context.DeadlineExceeded }
func (e *budgetError) Unwrap() error        { return e.err }
