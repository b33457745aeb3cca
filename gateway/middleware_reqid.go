package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/holdline/holdline/internal/upstream"
)

type ctxKey int

const (
	actorKey ctxKey = iota
)

// validReqID bounds what we accept from clients, so a request ID can go
// into logs and headers without escaping: 1 to 128 of A-Z a-z 0-9 . _ : -
// (a loop, not a regexp: it runs on every request).
func validReqID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestID takes X-Request-Id from the client when it is well formed,
// else generates one, stores it in the context and echoes it back.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validReqID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(upstream.WithRequestID(r.Context(), id)))
	})
}

// RequestID returns the request ID stored by the request-ID middleware, or
// "". The id lives in internal/upstream, so that the dependencies' HTTP
// clients send it upstream as X-Request-Id.
func RequestID(ctx context.Context) string { return upstream.RequestID(ctx) }

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
