// Package holdline holds the vocabulary the whole program shares: the
// domain error every flow returns for a failure a client may see, and the
// codes that classify it. It imports nothing of holdline's, so every
// package may use it. It is not a stable API.
package holdline

import (
	"errors"
	"fmt"
)

// Error codes: what kind of failure an *Error is. The gateway maps each to
// one HTTP status and problem type; the CLI and drills branch on them. A
// code never changes its meaning.
const (
	// EINVALID: the request is wrong; Field names what to fix.
	EINVALID = "invalid"
	// EMALFORMED: the request body is not readable JSON.
	EMALFORMED = "malformed"
	// EUNKNOWNFIELD: the request names a field the API does not have.
	EUNKNOWNFIELD = "unknown_field"
	// ETOOLARGE: the request (or the recording) is larger than accepted.
	ETOOLARGE = "too_large"
	// EUNSUPPORTEDMEDIA: the body's content type is not accepted.
	EUNSUPPORTEDMEDIA = "unsupported_media"
	// EUNAUTHORIZED: the caller did not prove who it is.
	EUNAUTHORIZED = "unauthorized"
	// ENOTFOUND: the named thing does not exist.
	ENOTFOUND = "not_found"
	// EMETHOD: the operation does not exist on this resource.
	EMETHOD = "method_not_allowed"
	// ECONFLICT: the request contradicts what is already there.
	ECONFLICT = "conflict"
	// EUNAVAILABLE: holdline could not do it now; asking again may work.
	EUNAVAILABLE = "unavailable"
	// ENOTCONFIGURED: the operation is not wired on this sidecar.
	ENOTCONFIGURED = "not_configured"
	// EINSUFFICIENTSTORAGE: there was no room to keep what was sent;
	// nothing was kept.
	EINSUFFICIENTSTORAGE = "insufficient_storage"
	// ENOTIMPLEMENTED: the operation is declared but not built.
	ENOTIMPLEMENTED = "not_implemented"
	// EINTERNAL: anything else; the client learns nothing more.
	EINTERNAL = "internal"
)

// Error is a failure a client may see. Code classifies it; Field and
// Message are shown to the client, so they must hold nothing internal (no
// hosts, URLs, tokens or phone numbers); Err is the cause, for the
// operator's log and for errors.Is on the sentinel it wraps.
type Error struct {
	// Code is one of the E* constants.
	Code string
	// Field names the offending request field, header or parameter, or "".
	Field string
	// Message says what went wrong and what to do, for the client.
	Message string
	// Retryable is true when sending the same request again later may
	// succeed (the store is full, the outbox is unavailable).
	Retryable bool
	// Err is the cause, or nil.
	Err error
}

// Error returns the code, field, message and cause on one line, for logs.
func (e *Error) Error() string {
	s := e.Code
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so errors.Is and errors.As see through an
// *Error to the sentinel it wraps.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code, field and a message formatted from
// format and args. A %w verb in format sets Err to the wrapped error(s),
// and the message holds their text, so use %w only for causes that are
// safe to show.
func Errorf(code, field, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Code: code, Field: field, Message: err.Error()}
	if errors.Unwrap(err) != nil || isMulti(err) {
		e.Err = err
	}
	return e
}

func isMulti(err error) bool {
	_, ok := err.(interface{ Unwrap() []error })
	return ok
}

// Wrap returns an *Error with code, field and message whose cause is err.
// Use it to give a sentinel or an internal error a code without showing
// its text.
func Wrap(code, field, message string, err error) *Error {
	return &Error{Code: code, Field: field, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Code != "" {
		return e.Code
	}
	return EINTERNAL
}

// ErrorField returns the field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Field
	}
	return ""
}

// ErrorMessage returns the client message of the first *Error in err's
// chain, or "" for any other error (whose text is internal).
func ErrorMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return ""
}

// IsRetryable reports whether the first *Error in err's chain is
// Retryable.
func IsRetryable(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Retryable
}
