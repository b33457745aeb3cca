package gateway

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// slowClient sends headers and the first byte of a body of length n, then
// nothing, and returns what the server sent before closing the connection.
// The read waits at most guard: a server that holds the connection open
// fails the test.
func slowClient(t *testing.T, addr, head string, guard time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head+"{"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(guard))
	b, err := io.ReadAll(bufio.NewReader(c))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server still held the connection open after %v (read so far: %q)", guard, b)
	}
	return string(b)
}

// TestSlowBodiesAreCutOff: a client that sends headers and one byte of
// its body, then stalls, loses its connection after the body timeout (a
// JSON body) or the idle timeout (a recording upload), instead of holding
// it for ever.
func TestSlowBodiesAreCutOff(t *testing.T) {
	p := newPlanes(t, func(o *Options) {
		o.BodyTimeout = 200 * time.Millisecond
		o.BodyIdleTimeout = 200 * time.Millisecond
	})
	addr := strings.TrimPrefix(p.data.URL, "http://")
	for _, tt := range []struct{ name, head string }{
		{"json body", "POST /v1/screen-pop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"},
		{"recording upload", "POST /v1/interactions/call-1/recordings HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: 100\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The guard is far above the 200ms timeouts: it only tells a
			// connection that was cut from one that was held.
			got := slowClient(t, addr, tt.head, 30*time.Second)
			if got != "" && !strings.HasPrefix(got, "HTTP/1.1 4") && !strings.HasPrefix(got, "HTTP/1.1 5") {
				t.Errorf("answer to a stalled body = %q, want a 4xx/5xx or a closed connection", firstLine(got))
			}
		})
	}
	// A whole body sent in time is served as usual.
	resp, body := do(t, "POST", p.data.URL+"/v1/screen-pop", "application/json", `{"bogus":1}`, nil)
	if resp.StatusCode != 400 {
		t.Errorf("a prompt request = %d %s, want the usual 400", resp.StatusCode, body)
	}
}
