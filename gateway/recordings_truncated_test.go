package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTruncatedUploadIsAClientError: a client that hangs up before the end
// of its declared body gets a 4xx (when it can still read one), and
// nothing of the partial recording is kept: no spool file, nothing stored.
func TestTruncatedUploadIsAClientError(t *testing.T) {
	p, _, spoolDir := newRecordingPlanes(t, 1<<20)
	c, err := net.Dial("tcp", strings.TrimPrefix(p.data.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	head := "POST /v1/interactions/call-1/recordings HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nX-Recording-Id: rec-cut\r\nContent-Length: 100000\r\n\r\n"
	if _, err := io.WriteString(c, head+strings.Repeat("R", 4096)); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite() // the client is gone mid-body
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a truncated upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("truncated upload = %d, want 400", resp.StatusCode)
	}
	entries, err := os.ReadDir(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("spool holds %s after a truncated upload, want nothing kept", e.Name())
		}
	}
	// The same recording id, sent whole, is a new recording, not a replay
	// of a partial one.
	resp2, body := do(t, "POST", p.data.URL+"/v1/interactions/call-1/recordings", "audio/wav", strings.Repeat("R", 5000), map[string]string{"X-Recording-Id": "rec-cut"})
	if resp2.StatusCode != 201 && resp2.StatusCode != 202 {
		t.Errorf("whole upload after a truncated one = %d %s, want 201/202", resp2.StatusCode, body)
	}
}
