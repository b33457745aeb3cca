package gateway

import (
	"io"
	"net/http"
	"time"
)

// readDeadline bounds how long a client may hold a request open while
// sending its body, so a slow client (slowloris: headers, then a byte now
// and then) cannot pin a connection and a goroutine for ever. A JSON body
// must arrive whole within total; a streamed body (exempt: recording
// uploads, which may be large) must keep making progress: each read waits
// at most idle for the next bytes. A body that misses its deadline fails
// its read, which the handler reports as a bad or incomplete body.
//
// Deadlines are set on the connection through http.ResponseController;
// where the connection does not support them (HTTP/2 streams in some
// setups) the request is served without one.
func readDeadline(total, idle time.Duration, streamed func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody || (total <= 0 && idle <= 0) {
				next.ServeHTTP(w, r)
				return
			}
			rc := http.NewResponseController(w)
			if streamed(r) {
				if idle > 0 {
					r.Body = &progressBody{ReadCloser: r.Body, rc: rc, idle: idle}
				}
			} else if total > 0 {
				_ = rc.SetReadDeadline(time.Now().Add(total))
			}
			next.ServeHTTP(w, r)
			// The deadline stays: after the handler, the server may read
			// what is left of an unread body, and that read is bounded
			// too. The next request on the connection gets the server's
			// own deadlines (read_header_timeout, idle_timeout).
			if streamed(r) && idle > 0 {
				_ = rc.SetReadDeadline(time.Now().Add(idle))
			}
		})
	}
}

// progressBody moves the read deadline forward before every read.
type progressBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *progressBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	return b.ReadCloser.Read(p)
}
