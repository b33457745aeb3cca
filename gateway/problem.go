package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// problemBase prefixes every problem type. The slugs after it are stable:
// clients may branch on them.
const problemBase = "https://holdline.dev/problems/"

// Problem is an RFC 9457 problem. Err carries the internal cause for the
// operator's log only; it never reaches the client.
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

func (p *Problem) Error() string {
	if p.Field != "" {
		return fmt.Sprintf("%d %s: %s: %s", p.Status, p.Title, p.Field, p.Detail)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

func (p *Problem) Unwrap() error { return p.Err }

// The problems holdline answers with, by stable slug.
var titles = map[string]string{
	"validation":             "Invalid request",
	"malformed-json":         "Malformed JSON",
	"unknown-field":          "Unknown field",
	"too-large":              "Request body too large",
	"unsupported-media-type": "Unsupported media type",
	"unauthorized":           "Unauthorized",
	"not-found":              "Not found",
	"method-not-allowed":     "Method not allowed",
	"conflict":               "Conflict",
	"insufficient-storage":   "Insufficient storage",
	"unavailable":            "Service unavailable",
	"not-implemented":        "Not implemented",
	"internal":               "Internal error",
}

func newProblem(status int, slug, detail string) *Problem {
	return &Problem{Type: problemBase + slug, Title: titles[slug], Status: status, Detail: detail}
}

// Invalid is a 400 validation problem naming the offending field.
func Invalid(field, detail string) *Problem {
	p := newProblem(http.StatusBadRequest, "validation", detail)
	p.Field = field
	return p
}

// NotFound is a 404 problem.
func NotFound(detail string) *Problem { return newProblem(http.StatusNotFound, "not-found", detail) }

// Conflict is a 409 problem.
func Conflict(detail string) *Problem { return newProblem(http.StatusConflict, "conflict", detail) }

// Unavailable is a 503 problem; err is logged, not shown.
func Unavailable(detail string, err error) *Problem {
	p := newProblem(http.StatusServiceUnavailable, "unavailable", detail)
	p.Err = err
	return p
}

// TooLarge is a 413 problem.
func TooLarge(detail string) *Problem {
	return newProblem(http.StatusRequestEntityTooLarge, "too-large", detail)
}

// InsufficientStorage is a 507 problem; err is logged, not shown.
func InsufficientStorage(detail string, err error) *Problem {
	p := newProblem(http.StatusInsufficientStorage, "insufficient-storage", detail)
	p.Err = err
	return p
}

// problemFor maps any error to the problem the client sees. Errors that are
// not already a *Problem are internal: the client gets a generic 500 with
// the request ID, and the operator's log gets the cause.
func problemFor(err error) *Problem {
	if p, ok := errors.AsType[*Problem](err); ok {
		return p
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return TooLarge("the request body is larger than this endpoint accepts")
	}
	p := newProblem(http.StatusInternalServerError, "internal", "holdline could not complete the request; quote the request_id to the operator")
	p.Err = err
	return p
}

// writeProblem writes p as application/problem+json. Causes of 5xx are
// logged with the request ID; their text never reaches the client.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, p *Problem) {
	out := *p
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
