package capture_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/gcsemu"
)

// TestMain doubles as a GCS emulator process for the memory test: the
// emulator keeps every object in memory, so it must not share the
// measured process.
func TestMain(m *testing.M) {
	if os.Getenv("HOLDLINE_TEST_GCS_CHILD") == "1" {
		g, err := gcsemu.Start(gcsemu.Options{Buckets: []string{bucket}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(g.URL())
		io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
		g.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startGCSProcess runs the emulator in a child process and returns its URL.
func startGCSProcess(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HOLDLINE_TEST_GCS_CHILD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("emulator process: %v", err)
	}
	return strings.TrimSpace(line)
}

// pattern is an endless deterministic byte stream that holds only 1 MiB.
type pattern struct {
	buf  []byte
	off  int
	left int64
}

func newPattern(n int64) *pattern {
	return &pattern{buf: randomBytes(1<<20+7, 99), left: n}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(int64(len(b)), p.left)], p.buf[p.off:])
	p.off = (p.off + n) % len(p.buf)
	p.left -= int64(n)
	return n, nil
}

func procStatus(t *testing.T, key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestUploadMemoryIsFlat streams 256 MiB through the flow to GCS (and the
// spool tee) and checks that neither the Go heap nor the process's peak
// RSS grows by more than 64 MiB.
func TestUploadMemoryIsFlat(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("streams 256 MiB (skipped with -short and under -race; cmd/holdline's TestRecordingUploadMemoryIsFlat covers the real binary)")
	}
	url := startGCSProcess(t)
	e := newEnv(t, envOptions{gcsURL: url, noRun: true, maxBytes: 1 << 30})
	const size = 256 << 20
	const bound = 64 << 20

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapInuse
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM to the current RSS
	rss0 := procStatus(t, "VmRSS")

	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	start := time.Now()
	res, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: "int-big", RecordingID: "rec-big",
		ContentType: "audio/wav", ContentLength: -1, Body: newPattern(size)})
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil || res.Outcome != capture.Stored || res.Recording.Size != size {
		t.Fatalf("Upload = %+v, %v; want 256 MiB stored", res, err)
	}
	hwm := procStatus(t, "VmHWM")
	t.Logf("256 MiB in %v (%.0f MiB/s): heap in use %d MiB -> peak %d MiB; RSS %d MiB -> peak %d MiB",
		elapsed.Round(time.Millisecond), float64(size>>20)/elapsed.Seconds(), heap0>>20, peak>>20, rss0>>20, hwm>>20)
	if peak > heap0+bound {
		t.Errorf("heap grew by %d MiB, want at most %d MiB", (peak-heap0)>>20, bound>>20)
	}
	if hwm > rss0+bound {
		t.Errorf("peak RSS grew by %d MiB, want at most %d MiB", (hwm-rss0)>>20, bound>>20)
	}
}

// BenchmarkUpload compares the capture flow (hashing, spool tee, policy
// transport, outbox job) with the storage client writing the same bytes
// straight to the same emulator, 32 MiB per op, 8 MiB chunks both ways.
func BenchmarkUpload(b *testing.B) {
	const size = 32 << 20
	e := newEnv(b, envOptions{noRun: true, maxBytes: 1 << 30})
	run := 0
	b.Run("capture", func(b *testing.B) {
		run++
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			res, err := e.flow.Upload(b.Context(), capture.Request{InteractionID: "int-bench", RecordingID: fmt.Sprintf("rec-%d-%d", run, i),
				ContentType: "audio/wav", ContentLength: -1, Body: newPattern(size)})
			if err != nil || res.Outcome != capture.Stored {
				b.Fatalf("Upload = %+v, %v", res, err)
			}
			b.StopTimer()
			e.store.Delete(context.Background(), strings.TrimPrefix(res.Recording.Object, "gs://"+bucket+"/"))
			b.StartTimer()
		}
	})
	b.Run("direct", func(b *testing.B) {
		run++
		c, err := storage.NewClient(b.Context(), append(e.gcs.ClientOptions(), option.WithHTTPClient(&http.Client{}))...)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			name := fmt.Sprintf("direct-%d-%d", run, i)
			w := c.Bucket(bucket).Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(b.Context())
			w.ChunkSize = 8 << 20
			if _, err := io.Copy(w, newPattern(size)); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			c.Bucket(bucket).Object(name).Delete(context.Background())
			b.StartTimer()
		}
	})
}
