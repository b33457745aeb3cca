package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestIDTakesOnlyWellFormedIDs: a client's X-Request-Id is echoed
// and kept when it is 1-128 of A-Z a-z 0-9 . _ : -, and replaced by a
// generated one otherwise (so it can go into logs and headers as is).
func TestRequestIDTakesOnlyWellFormedIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		kept bool
	}{
		{"abc-123", true},
		{"A.b_c:d-9", true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"", false},
		{"has space", false},
		{"quote\"", false},
		{"new\nline", false},
		{"ünïcode", false},
		{"slash/", false},
	}
	for _, tt := range tests {
		var seen string
		h := requestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) }))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header["X-Request-Id"] = []string{tt.id}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		echoed := w.Header().Get("X-Request-Id")
		if echoed != seen {
			t.Errorf("id %q: echoed %q, context has %q", tt.id, echoed, seen)
		}
		if got := echoed == tt.id; got != tt.kept {
			t.Errorf("id %q: kept = %v, want %v (echoed %q)", tt.id, got, tt.kept, echoed)
		}
		if !tt.kept && !validReqID(echoed) {
			t.Errorf("id %q: replacement %q is not well formed", tt.id, echoed)
		}
	}
}
