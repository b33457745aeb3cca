package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"

	"github.com/holdline/holdline/internal/upstream"
)

type ctxKey int

const (
	actorKey ctxKey = iota
)

// validReqID bounds what we accept from clients, so a request ID can go
// into logs and headers without escaping.
var validReqID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID takes X-Request-Id from the client when it is well formed,
// else generates one, stores it in the context and echoes it back.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validReqID.MatchString(id) {
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
