package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// recoverer turns a handler panic into a 500 problem and a log line with
// the stack, instead of a dropped connection.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil || v == http.ErrAbortHandler {
					if v != nil {
						panic(v)
					}
					return
				}
				log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
					slog.String("request_id", RequestID(r.Context())), slog.String("stack", string(debug.Stack())))
				writeProblem(w, r, log, fmt.Errorf("panic: %v", v))
			}()
			next.ServeHTTP(w, r)
		})
	}
}
