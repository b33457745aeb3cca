package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// gcsBucket is the bucket the harness's fake-gcs-server creates.
const gcsBucket = "bench"

// Recordings is scenario 6: one large upload through holdline's
// recordings endpoint to fake-gcs-server, against the storage client
// writing the same bytes to the same emulator directly.
type Recordings struct {
	Bytes int64 `json:"bytes"`
	// MBps[path] per repeat, MB = 2^20 bytes.
	MBps map[string][]float64 `json:"mib_per_s"`
	// PeakRSS is holdline's VmHWM after each upload; StartRSS before.
	PeakRSS  []int64 `json:"peak_rss_bytes"`
	StartRSS []int64 `json:"start_rss_bytes"`
	Status   string  `json:"status,omitempty"`
}

const (
	recHoldline = "through holdline"
	recDirect   = "storage client direct"
)

func runRecordings(ctx context.Context, e *env) (*Recordings, error) {
	repeats := 3
	size := int64(256 << 20)
	if e.quick {
		repeats, size = 2, 64<<20
	}
	res := &Recordings{Bytes: size, MBps: map[string][]float64{}}
	for rep := range repeats {
		// Each upload gets an emulator of its own, started fresh: it keeps
		// objects in memory, and a second upload into a process whose heap
		// the first one already grew skips the page faults the first paid.
		// The order alternates so neither path always goes first.
		var hlMBps, dMBps float64
		var rss0, hwm int64
		for _, path := range recOrder(rep) {
			gcsAddr, _ := freeAddr()
			g, err := e.child("fake-gcs", "gcs", gcsAddr)
			if err != nil {
				return nil, err
			}
			if err := waitTCP(g, gcsAddr, 10*time.Second); err != nil {
				g.stop()
				return nil, err
			}
			gcsURL := "http://" + gcsAddr
			if path == recDirect {
				t0 := time.Now()
				err = uploadDirect(ctx, gcsURL, fmt.Sprintf("direct-%d", rep), size)
				el := time.Since(t0)
				g.stop()
				if err != nil {
					return nil, err
				}
				dMBps = float64(size) / (1 << 20) / el.Seconds()
				continue
			}
			hl, err := e.startHoldline(ctx, "holdline", holdlineOpts{crmURL: "http://127.0.0.1:1", gcsURL: gcsURL})
			if err != nil {
				g.stop()
				return nil, err
			}
			rss0, _ = hl.memory()
			t0 := time.Now()
			status, body, err := uploadRecording(ctx, "http://"+hl.addr, fmt.Sprintf("bench-%d", rep), size)
			el := time.Since(t0)
			_, hwm = hl.memory()
			hl.stop()
			g.stop()
			if err != nil || status != http.StatusCreated {
				if status == http.StatusServiceUnavailable {
					res.Status = "not available yet: " + tail(body, 200)
					return res, nil
				}
				return nil, fmt.Errorf("upload through holdline = %d %v: %s", status, err, tail(body, 300))
			}
			hlMBps = float64(size) / (1 << 20) / el.Seconds()
		}
		res.MBps[recHoldline] = append(res.MBps[recHoldline], hlMBps)
		res.MBps[recDirect] = append(res.MBps[recDirect], dMBps)
		res.PeakRSS = append(res.PeakRSS, hwm)
		res.StartRSS = append(res.StartRSS, rss0)
		e.logf("recordings rep %d: holdline %.0f MiB/s (RSS %.1f MiB at start, peak %.1f MiB), direct %.0f MiB/s", rep+1, hlMBps, float64(rss0)/(1<<20), float64(hwm)/(1<<20), dMBps)
	}
	return res, nil
}

// recOrder is the order of the two uploads in repeat rep: holdline first
// in even repeats, the direct client first in odd ones.
func recOrder(rep int) []string {
	if rep%2 == 0 {
		return []string{recHoldline, recDirect}
	}
	return []string{recDirect, recHoldline}
}

// pattern is an endless, cheap, non-constant byte stream.
type pattern struct{ n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.n*7 + p.n>>9)
		p.n++
	}
	return len(b), nil
}

func uploadRecording(ctx context.Context, base, id string, size int64) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/interactions/"+id+"/recordings", io.LimitReader(&pattern{}, size))
	if err != nil {
		return 0, "", err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("X-Recording-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// uploadDirect writes the same bytes with the storage client, 8 MiB
// chunks and a create-only precondition, as holdline's GCS store does.
func uploadDirect(ctx context.Context, gcsURL, name string, size int64) error {
	c, err := storage.NewClient(ctx, option.WithEndpoint(gcsURL+"/storage/v1/"), option.WithoutAuthentication(), option.WithHTTPClient(&http.Client{}))
	if err != nil {
		return err
	}
	defer c.Close()
	w := c.Bucket(gcsBucket).Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ChunkSize = 8 << 20
	if _, err := io.Copy(w, io.LimitReader(&pattern{}, size)); err != nil {
		return err
	}
	return w.Close()
}
