package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/gateway"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/outbox"
)

// DevBucket is the bucket dev mode and `holdline sim` create in their GCS
// emulator.
const DevBucket = "holdline-dev"

// buildRecordings builds the recording store (GCS through the blob
// dependency, or a local directory), the spool in {data_dir}/spool and the
// capture flow, and registers the blob.upload and crm.attach_recording
// handlers on j. Call it between openOutbox and startOutbox; the flow is
// gateway.Services.Recordings.
//
// In dev mode with store gcs and no blob endpoint, it starts an in-process
// GCS emulator (fake-gcs-server on loopback) so the real client path runs;
// with --sim, UseSimStore has already pointed the endpoint at the
// emulator of the running `holdline sim`.
func (s *Sidecar) buildRecordings(ctx context.Context, j *jobs) (*capture.Flow, error) {
	rc := s.cfg.Recordings
	dep := s.deps.Get("blob")
	var store blob.Store
	switch rc.Store {
	case "dir":
		dir := rc.Dir
		if dir == "" {
			dir = filepath.Join(s.cfg.DataDir, "recordings")
		}
		d, err := blob.NewDir(dir, dep)
		if err != nil {
			return nil, fmt.Errorf("sidecar: recordings.dir: %w", err)
		}
		store = d
	default: // gcs
		endpoint, bucket := s.cfg.Dependencies.Blob.Endpoints.Primary, rc.Bucket
		if s.opts.Dev && endpoint == "" {
			if bucket == "" {
				bucket = DevBucket
			}
			g, err := sim.StartGCS(sim.GCSOptions{Buckets: []string{bucket}})
			if err != nil {
				return nil, err
			}
			s.closers = append(s.closers, g.Close)
			endpoint = g.URL()
			s.log.Info("dev GCS emulator started", "url", endpoint, "bucket", bucket)
		}
		if bucket == "" {
			return nil, errors.New("recordings.bucket: must be set when recordings.store is gcs")
		}
		c, err := blob.NewGCSClient(ctx, dep, endpoint)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, c.Close)
		store = blob.NewGCS(c, bucket, blob.GCSOptions{})
	}
	spool, err := blob.OpenSpool(filepath.Join(s.cfg.DataDir, "spool"))
	if err != nil {
		return nil, err
	}
	if n, err := quarantineOrphans(ctx, j.store, spool.Dir()); err != nil {
		s.log.Warn("spool sweep failed", "error", err)
	} else if n > 0 {
		s.log.Warn("spool files no upload job refers to were moved aside; they were never acknowledged (a crash came between the fsync and the job), clients retried them",
			"count", n, "dir", filepath.Join(spool.Dir(), "orphaned"))
	}
	flow, err := capture.New(store, spool, recordingJobs{j}, dep, rc, capture.Options{Logger: s.log})
	if err != nil {
		return nil, err
	}
	for kind, h := range flow.Handlers(j.records, s.deps.Get("crm")) {
		j.Handle(kind, h)
	}
	return flow, nil
}

// recordingJobs is the outbox as the capture flow sees it: enqueue through
// the dispatcher (which wakes it), read through the store.
type recordingJobs struct{ *jobs }

func (r recordingJobs) Interaction(ctx context.Context, id string) ([]outbox.Job, error) {
	return r.store.Interaction(ctx, id)
}

// recorder keeps a nil flow a nil interface, so the gateway answers 503
// rather than calling a nil flow.
func recorder(f *capture.Flow) gateway.Recorder {
	if f == nil {
		return nil
	}
	return f
}

// quarantineOrphans moves spooled recordings that no unfinished blob.upload
// job refers to into dir/orphaned. Such a file is left by a crash between
// the spool's fsync and the job's enqueue: the upload was never answered
// 2xx, so the client retried it, but the bytes are kept for a person to
// look at rather than deleted. Run it before the dispatcher starts.
func quarantineOrphans(ctx context.Context, store outbox.Store, dir string) (int, error) {
	referenced := map[string]bool{}
	f := outbox.Filter{Kind: capture.KindUpload, Limit: 1000}
	for {
		page, next, err := store.List(ctx, f)
		if err != nil {
			return 0, err
		}
		for _, j := range page {
			if j.State == outbox.Done {
				continue
			}
			var p struct {
				SpoolPath string `json:"spool_path"`
			}
			if json.Unmarshal(j.Payload, &p) == nil && p.SpoolPath != "" {
				referenced[filepath.Base(p.SpoolPath)] = true
			}
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.rec"))
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, path := range files {
		if referenced[filepath.Base(path)] {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dir, "orphaned"), 0o700); err != nil {
			return moved, err
		}
		if err := os.Rename(path, filepath.Join(dir, "orphaned", filepath.Base(path))); err != nil {
			return moved, err
		}
		moved++
	}
	return moved, nil
}
