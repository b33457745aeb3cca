package resilience

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/holdline/holdline/internal/upstream"
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

// The errors Read and Write return when they refuse or cut a call are
// failsafe-go's sentinels, so callers use errors.Is with them directly:
//
//   - circuitbreaker.ErrOpen: the breaker is open (or forced open).
//   - bulkhead.ErrFull: max_concurrent calls are already in flight; with
//     bulkhead.mode adaptive, the adaptive limit is reached (the error is
//     adaptivelimiter.ErrExceeded too, and its Reason "concurrency limit").
//   - ratelimiter.ErrExceeded: rate_limit.per_second was exceeded.
//   - timeout.ErrExceeded: the call took longer than the policy timeout.
//
// A context error (context.DeadlineExceeded, context.Canceled) means the
// caller's own budget ran out or the caller gave up.

// noSecondary is what an operator is told when dep cannot fail over.
func noSecondary(dep string) string {
	if dep == "identity" {
		return "identity has no failover: JWKS and introspection use the issuer's URLs (identity.issuer, identity.introspection_url), not dependencies.identity.endpoints"
	}
	if dep == "dialogflow" {
		return "dialogflow has no secondary: no agent in dialogflow.agents names a secondary environment"
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
	var se *upstream.StatusError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen):
		return "circuit open"
	case errors.Is(err, adaptivelimiter.ErrExceeded):
		return "concurrency limit"
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

// timeoutError is what Read and Write return when the policy timeout cut
// the call: it is timeout.ErrExceeded and still unwraps to what fn
// returned.
type timeoutError struct {
	limit time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%v after %v: %v", timeout.ErrExceeded, e.limit, e.err)
}

func (e *timeoutError) Is(target error) bool { return target == timeout.ErrExceeded }
func (e *timeoutError) Unwrap() error        { return e.err }

// budgetError is what Read and Write return when the caller's own deadline
// cut the call: it is context.DeadlineExceeded and still unwraps to what fn
// returned (a transport's raw deadline error, say).
type budgetError struct {
	err error
}

func (e *budgetError) Error() string        { return "budget exhausted: " + e.err.Error() }
func (e *budgetError) Is(target error) bool { return target == context.DeadlineExceeded }
func (e *budgetError) Unwrap() error        { return e.err }
