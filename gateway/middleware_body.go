package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/holdline/holdline"
)

// limitBody caps request bodies at max bytes (413 past it). A declared
// Content-Length over the limit is refused before any byte is read.
// Requests for which exempt returns true (streamed uploads, which have
// their own limit) are not capped; their declared length is passed on in
// the context (declaredLength) so the handler can refuse them as early.
func limitBody(max int64, exempt func(*http.Request) bool, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			if exempt(r) {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), contentLengthKey{}, r.ContentLength)))
				return
			}
			if r.ContentLength > max {
				writeProblem(w, r, log, holdline.Errorf(holdline.ETOOLARGE, "", "the body is %d bytes; this endpoint accepts at most %d", r.ContentLength, max))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, max)
			next.ServeHTTP(w, r)
		})
	}
}

func isRecordingUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/interactions/") && strings.HasSuffix(r.URL.Path, "/recordings")
}

type contentLengthKey struct{}

// declaredLength is the Content-Length of a request limitBody exempted,
// or -1 when it was not declared (chunked) or not recorded.
func declaredLength(ctx context.Context) int64 {
	if n, ok := ctx.Value(contentLengthKey{}).(int64); ok && n >= 0 {
		return n
	}
	return -1
}
