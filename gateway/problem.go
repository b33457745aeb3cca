package gateway

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/holdline/holdline"
)

// problemBase prefixes every problem type. The slugs after it are stable:
// clients may branch on them.
const problemBase = "https://holdline.dev/problems/"

// Problem is an RFC 9457 problem: the wire form of an error. Err carries
// the internal cause for the operator's log only; it never reaches the
// client.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Field     string `json:"field,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`

	// RetryAfter, when positive, is sent as the Retry-After header (whole
	// seconds): when the client may try again.
	RetryAfter time.Duration `json:"-"`

	Err error `json:"-"`
}

// problemKind is how the client sees one error code.
type problemKind struct {
	status int
	slug   string
	title  string
	// retryAfter is the Retry-After of a Retryable error of this code.
	retryAfter time.Duration
}

// storageRetryAfter is the Retry-After of a 507: long enough for the
// spool to drain a few recordings once the store is back, short enough
// that a client's retry finds it.
const storageRetryAfter = 30 * time.Second

// internalDetail is the whole detail of a 500: the cause is in the log
// line with the same request ID.
const internalDetail = "holdline could not complete the request; quote the request_id to the operator"

// kindOf returns the status, problem type and title of a holdline error
// code; any code it does not know is internal.
func kindOf(code string) problemKind {
	switch code {
	case holdline.EINVALID:
		return problemKind{http.StatusBadRequest, "validation", "Invalid request", 0}
	case holdline.EMALFORMED:
		return problemKind{http.StatusBadRequest, "malformed-json", "Malformed JSON", 0}
	case holdline.EUNKNOWNFIELD:
		return problemKind{http.StatusBadRequest, "unknown-field", "Unknown field", 0}
	case holdline.ETOOLARGE:
		return problemKind{http.StatusRequestEntityTooLarge, "too-large", "Request body too large", 0}
	case holdline.EUNSUPPORTEDMEDIA:
		return problemKind{http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", 0}
	case holdline.EUNAUTHORIZED:
		return problemKind{http.StatusUnauthorized, "unauthorized", "Unauthorized", 0}
	case holdline.ENOTFOUND:
		return problemKind{http.StatusNotFound, "not-found", "Not found", 0}
	case holdline.EMETHOD:
		return problemKind{http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", 0}
	case holdline.ECONFLICT:
		return problemKind{http.StatusConflict, "conflict", "Conflict", 0}
	case holdline.EINSUFFICIENTSTORAGE:
		return problemKind{http.StatusInsufficientStorage, "insufficient-storage", "Insufficient storage", storageRetryAfter}
	case holdline.EUNAVAILABLE:
		return problemKind{http.StatusServiceUnavailable, "unavailable", "Service unavailable", 0}
	case holdline.ENOTCONFIGURED:
		return problemKind{http.StatusServiceUnavailable, "not-configured", "Not configured", 0}
	case holdline.ENOTIMPLEMENTED:
		return problemKind{http.StatusNotImplemented, "not-implemented", "Not implemented", 0}
	}
	return problemKind{http.StatusInternalServerError, "internal", "Internal error", 0}
}

// problemFor maps any error to the problem the client sees, by its
// holdline error code; it is the only place that does. The problem shows
// the error's Field and Message; an error without a code is internal: the
// client gets a generic 500 with the request ID, and the operator's log
// gets the cause. A body cut by http.MaxBytesReader is too large.
func problemFor(err error) *Problem {
	code := holdline.ErrorCode(err)
	field, detail := holdline.ErrorField(err), holdline.ErrorMessage(err)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok && code == holdline.EINTERNAL {
		code, detail = holdline.ETOOLARGE, "the request body is larger than this endpoint accepts"
	}
	k := kindOf(code)
	if k.status == http.StatusInternalServerError {
		field, detail = "", internalDetail
	}
	p := &Problem{Type: problemBase + k.slug, Title: k.title, Status: k.status, Detail: detail, Field: field, Err: err}
	if holdline.IsRetryable(err) {
		p.RetryAfter = k.retryAfter
	}
	return p
}

// notConfigured is the error of an operation whose flow is not wired on
// this sidecar.
func notConfigured(what string) error {
	return holdline.Errorf(holdline.ENOTCONFIGURED, "", "%s is not configured on this sidecar", what)
}

// invalidBody is the error of an operation that needs a body and got none.
func invalidBody() error {
	return holdline.Errorf(holdline.EINVALID, "", "a JSON request body is required")
}

// writeProblem writes err as application/problem+json (problemFor).
// Causes of 5xx are logged with the request ID; their text never reaches
// the client.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	out := *problemFor(err)
	out.RequestID = RequestID(r.Context())
	if out.Instance == "" {
		out.Instance = r.URL.Path
	}
	if out.Status >= 500 {
		log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", out.RequestID), slog.Int("status", out.Status),
			slog.String("problem", out.Type), slog.Any("error", out.Err))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if out.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((out.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(out.Status)
	_ = json.NewEncoder(w).Encode(&out)
}
