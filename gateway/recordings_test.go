package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/gcsemu"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/outbox"
)

// newRecordingPlanes serves the recording route on a real capture flow:
// fake-gcs-server over loopback through the blob dependency, a bbolt
// outbox and a spool.
func newRecordingPlanes(t *testing.T, maxBytes int64) (*planes, *resilience.Faults, string) {
	t.Helper()
	g, err := gcsemu.Start(gcsemu.Options{Buckets: []string{"rec"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	cfg := config.Default()
	cfg.Dependencies.Blob.Endpoints.Primary = g.URL()
	cfg.Recordings.MaxBytes = maxBytes
	faults := resilience.NewFaults(nil)
	deps, err := resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	c, err := blob.NewGCSClient(t.Context(), deps.Get("blob"), g.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dir := t.TempDir()
	spool, err := blob.OpenSpool(filepath.Join(dir, "spool"), blob.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := outbox.OpenBolt(filepath.Join(dir, "outbox.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jobs.Close() })
	flow, err := capture.New(blob.NewGCS(c, "rec", blob.GCSOptions{ChunkRetryDeadline: time.Second}), spool, jobs, deps.Get("blob"), cfg.Recordings, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newPlanes(t, func(o *Options) { o.Services.Recordings = flow })
	return p, faults, filepath.Join(dir, "spool")
}

func TestUploadRecording(t *testing.T) {
	p, faults, _ := newRecordingPlanes(t, 1<<20)
	url := p.data.URL + "/v1/interactions/int-1/recordings"
	audio := strings.Repeat("RIFF....WAVEfmt ", 40_000) // 640 KB, several GCS chunks
	sum := sha256.Sum256([]byte(audio))
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"

	type answer struct {
		RecordingID string `json:"recording_id"`
		Object      string `json:"object"`
		Size        int64  `json:"size"`
		CRC32C      string `json:"crc32c"`
		Stored      string `json:"stored"`
		CRM         string `json:"crm"`
	}
	decode := func(b []byte) answer {
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("answer is not JSON: %s", b)
		}
		return a
	}
	resp, body := do(t, "POST", url, "audio/wav", audio, map[string]string{"X-Recording-Id": "rec-1", "Repr-Digest": digest})
	if resp.StatusCode != 201 {
		t.Fatalf("upload = %d %s, want 201", resp.StatusCode, body)
	}
	first := decode(body)
	if first.RecordingID != "rec-1" || first.Stored != "gcs" || first.CRM != "queued" || first.Size != int64(len(audio)) ||
		!strings.HasPrefix(first.Object, "gs://rec/recordings/") || !strings.HasSuffix(first.Object, "/int-1/rec-1.wav") || first.CRC32C == "" {
		t.Errorf("201 body = %+v", first)
	}

	resp, body = do(t, "POST", url, "audio/wav", audio, map[string]string{"X-Recording-Id": "rec-1"})
	if resp.StatusCode != 200 || decode(body) != first {
		t.Errorf("replay = %d %s, want 200 with %+v", resp.StatusCode, body, first)
	}

	tests := []struct {
		name, ctype, body string
		hdr               map[string]string
		status            int
		field             string
	}{
		{"other bytes", "audio/wav", "different", map[string]string{"X-Recording-Id": "rec-1"}, 409, "X-Recording-Id"},
		{"digest mismatch", "audio/wav", audio + "x", map[string]string{"X-Recording-Id": "rec-2", "Repr-Digest": digest}, 400, "Repr-Digest"},
		{"bad digest", "audio/wav", audio, map[string]string{"Repr-Digest": "sha-256=nope"}, 400, "Repr-Digest"},
		{"media type", "text/plain", "hello", nil, 415, "Content-Type"},
		{"too large", "audio/ogg", strings.Repeat("x", 1<<20+1), nil, 413, ""},
		{"bad recording id", "audio/wav", "x", map[string]string{"X-Recording-Id": "a/b"}, 400, "X-Recording-Id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "POST", url, tt.ctype, tt.body, tt.hdr)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status = %d %s %s, want %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
			}
			var prob Problem
			json.Unmarshal(body, &prob)
			if prob.Field != tt.field {
				t.Errorf("problem field = %q, want %q (%s)", prob.Field, tt.field, body)
			}
		})
	}

	if _, err := faults.Add(resilience.Fault{Dependency: "blob", ErrorRate: 1, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, "POST", url, "audio/mpeg", audio, map[string]string{"X-Recording-Id": "rec-3"})
	if resp.StatusCode != 202 || decode(body).Stored != "spool" {
		t.Errorf("upload with GCS failing = %d %s, want 202 stored spool", resp.StatusCode, body)
	}
}

func TestUploadRecordingNoRoom(t *testing.T) {
	p, faults, spoolDir := newRecordingPlanes(t, 1<<20)
	faults.Add(resilience.Fault{Dependency: "blob", ErrorRate: 1, Duration: config.Duration(time.Minute)})
	if err := removeDir(spoolDir); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "POST", p.data.URL+"/v1/interactions/int-1/recordings", "audio/wav", "abc", nil)
	if resp.StatusCode != 507 || strings.Contains(string(body), "spool:") {
		t.Errorf("upload with no store and no spool = %d %s, want 507 without internals", resp.StatusCode, body)
	}
}

func TestUploadRecordingNotConfigured(t *testing.T) {
	p := newPlanes(t, nil)
	resp, _ := do(t, "POST", p.data.URL+"/v1/interactions/int-1/recordings", "audio/wav", "abc", nil)
	if resp.StatusCode != 503 {
		t.Errorf("status = %d, want 503", resp.StatusCode)
	}
}

func removeDir(dir string) error { return os.RemoveAll(dir) }

// countingReader counts the bytes read from it; it never ends on its own.
type countingReader struct{ n atomic.Int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// TestUploadRecordingDeclaredTooLarge checks that a Content-Length over
// recordings.max_bytes is refused before the body is read: with
// Expect: 100-continue the client never sends a byte of it.
func TestUploadRecordingDeclaredTooLarge(t *testing.T) {
	p, _, spoolDir := newRecordingPlanes(t, 1<<20)
	body := &countingReader{}
	req, err := http.NewRequestWithContext(t.Context(), "POST", p.data.URL+"/v1/interactions/int-1/recordings", io.LimitReader(body, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1 << 30
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("X-Recording-Id", "rec-huge")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("1 GiB declared = %d %s %s, want 413 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if n := body.n.Load(); n != 0 {
		t.Errorf("the client sent %d bytes of the body, want 0 (refused on Content-Length)", n)
	}
	if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
		t.Errorf("spool holds %d entries after a refused upload, want 0", len(left))
	}
}
