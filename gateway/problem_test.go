package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/upstream"
)

// TestProblemFor maps every error code to the problem the client sees: one
// status, type and title per code, the field of a 4xx, and nothing of a
// 500's cause.
func TestProblemFor(t *testing.T) {
	errCause := errors.New("dial tcp 10.9.8.7:443: token=sekrit")
	retryable := func(e *holdline.Error) error { e.Retryable = true; return e }
	tests := []struct {
		name       string
		err        error
		status     int
		slug       string
		title      string
		field      string
		detail     string
		retryAfter string
	}{
		{"invalid", holdline.Errorf(holdline.EINVALID, "text", "must be at most 256 characters"), 400, "validation", "Invalid request", "text", "must be at most 256 characters", ""},
		{"malformed", holdline.Errorf(holdline.EMALFORMED, "", "not JSON"), 400, "malformed-json", "Malformed JSON", "", "not JSON", ""},
		{"unknown field", holdline.Errorf(holdline.EUNKNOWNFIELD, "extra", "unknown field %q", "extra"), 400, "unknown-field", "Unknown field", "extra", `unknown field "extra"`, ""},
		{"too large", holdline.Errorf(holdline.ETOOLARGE, "", "too big"), 413, "too-large", "Request body too large", "", "too big", ""},
		{"unsupported media", holdline.Errorf(holdline.EUNSUPPORTEDMEDIA, "Content-Type", "send audio"), 415, "unsupported-media-type", "Unsupported media type", "Content-Type", "send audio", ""},
		{"unauthorized", holdline.Errorf(holdline.EUNAUTHORIZED, "", "token"), 401, "unauthorized", "Unauthorized", "", "token", ""},
		{"not found", holdline.Errorf(holdline.ENOTFOUND, "agent", "no agent"), 404, "not-found", "Not found", "agent", "no agent", ""},
		{"method", holdline.Errorf(holdline.EMETHOD, "", "GET is not allowed"), 405, "method-not-allowed", "Method not allowed", "", "GET is not allowed", ""},
		{"conflict", holdline.Errorf(holdline.ECONFLICT, "Idempotency-Key", "used"), 409, "conflict", "Conflict", "Idempotency-Key", "used", ""},
		{"unavailable keeps its message, not its cause", retryable(holdline.Wrap(holdline.EUNAVAILABLE, "", "retry it", errCause)), 503, "unavailable", "Service unavailable", "", "retry it", ""},
		{"not configured", holdline.Errorf(holdline.ENOTCONFIGURED, "", "dialogflow is not configured on this sidecar"), 503, "not-configured", "Not configured", "", "dialogflow is not configured on this sidecar", ""},
		{"insufficient storage, retryable", retryable(holdline.Wrap(holdline.EINSUFFICIENTSTORAGE, "", "no room", errCause)), 507, "insufficient-storage", "Insufficient storage", "", "no room", "30"},
		{"insufficient storage, not retryable", holdline.Wrap(holdline.EINSUFFICIENTSTORAGE, "", "no room", errCause), 507, "insufficient-storage", "Insufficient storage", "", "no room", ""},
		{"not implemented", holdline.Errorf(holdline.ENOTIMPLEMENTED, "", "later"), 501, "not-implemented", "Not implemented", "", "later", ""},
		{"wrapped twice", fmt.Errorf("flow: %w", holdline.Errorf(holdline.ECONFLICT, "x", "y")), 409, "conflict", "Conflict", "x", "y", ""},
		{"plain error is internal", errCause, 500, "internal", "Internal error", "", internalDetail, ""},
		{"internal code hides message and field", holdline.Errorf(holdline.EINTERNAL, "secret", "token=sekrit"), 500, "internal", "Internal error", "", internalDetail, ""},
		{"unknown code is internal", holdline.Errorf("teapot", "f", "token=sekrit"), 500, "internal", "Internal error", "", internalDetail, ""},
		{"body over MaxBytesReader", fmt.Errorf("decode: %w", &http.MaxBytesError{Limit: 10}), 413, "too-large", "Request body too large", "", "the request body is larger than this endpoint accepts", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			r := httptest.NewRequest("GET", "/v1/x", nil)
			r = r.WithContext(upstream.WithRequestID(r.Context(), "req-1"))
			w := httptest.NewRecorder()
			writeProblem(w, r, log, tt.err)

			if w.Code != tt.status || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("writeProblem(%v) = %d %s, want %d application/problem+json", tt.err, w.Code, w.Header().Get("Content-Type"), tt.status)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			want := map[string]any{"type": problemBase + tt.slug, "title": tt.title, "status": float64(tt.status),
				"detail": tt.detail, "instance": "/v1/x", "request_id": "req-1"}
			if tt.field != "" {
				want["field"] = tt.field
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("writeProblem(%v) body (-want +got):\n%s", tt.err, diff)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(w.Body.String(), "sekrit") || strings.Contains(w.Body.String(), "10.9.8.7") {
				t.Errorf("body %s leaks the cause", w.Body)
			}
			if logged := strings.Contains(logs.String(), `"request_id":"req-1"`); logged != (tt.status >= 500) {
				t.Errorf("5xx logged = %v for status %d, want %v (log: %s)", logged, tt.status, tt.status >= 500, logs.String())
			}
			if tt.status >= 500 && errors.Is(tt.err, errCause) && !strings.Contains(logs.String(), "10.9.8.7") {
				t.Errorf("log %s lacks the cause, which the operator needs", logs.String())
			}
		})
	}
}
