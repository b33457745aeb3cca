package upstream

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StatusError is a non-2xx answer from a dependency. Adapters return it
// (wrapped as they like) so that the policies and the flows can tell
// permanent errors from transient ones without knowing the adapter.
type StatusError struct {
	// Code is the HTTP status code (or the HTTP equivalent of a gRPC code).
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

// RetryDelay is RetryAfter: the outbox reads it (through its RetryDelayer
// interface) as the earliest time to try a write again.
func (e *StatusError) RetryDelay() time.Duration { return e.RetryAfter }

// FromResponse returns the *StatusError for a non-2xx resp, with its
// Retry-After parsed against now; nil for a 2xx answer. It does not read
// or close the body.
func FromResponse(resp *http.Response, now time.Time) *StatusError {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	return &StatusError{Code: resp.StatusCode, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now)}
}

// ParseRetryAfter parses a Retry-After header value: delay-seconds or an
// HTTP date (RFC 9110, section 10.2.3). It returns 0 when v is absent,
// invalid or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// IsPermanent reports whether err is a 4xx StatusError other than 408, 425
// and 429 and not Transient: the dependency answered and asking again will
// not help. Permanent errors are never retried, do not count as breaker
// failures, and send an outbox job to dead.
func IsPermanent(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Transient {
		return false
	}
	switch se.Code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return se.Code >= 400 && se.Code < 500
}

// IsAuthFailure reports whether err is a StatusError 401: the dependency
// refused holdline's credentials. Writes must not be buried for it: the
// credentials are at fault, not the write.
func IsAuthFailure(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.Code == http.StatusUnauthorized
}

// IsRateLimited reports whether err is a StatusError 429: the dependency
// asked holdline to slow down.
func IsRateLimited(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.Code == http.StatusTooManyRequests
}
