package sidecar

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/gateway"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// buildRecordingStore builds the recording store: a directory (store dir;
// default {data_dir}/recordings), or a GCS client through the blob
// dependency (store gcs; the endpoint, when set, is an emulator used
// without credentials: in dev mode, the one devTransform points at).
func (s *Sidecar) buildRecordingStore(ctx context.Context) error {
	rc := s.cfg.Recordings
	dep := s.deps.Get("blob")
	if rc.Store == "dir" {
		dir := cmp.Or(rc.Dir, filepath.Join(s.cfg.DataDir, "recordings"))
		d, err := blob.NewDir(dir, dep)
		if err != nil {
			return fmt.Errorf("sidecar: recordings.dir: %w", err)
		}
		s.blobStore = d
		return nil
	}
	c, err := blob.NewGCSClient(ctx, dep, s.cfg.Dependencies.Blob.Endpoints.Primary)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, c.Close)
	s.blobStore = blob.NewGCS(c, rc.Bucket, blob.GCSOptions{})
	return nil
}

// buildRecordings builds the capture flow over the recording store and
// the spool, with its spool metrics, after moving aside the spool files no
// upload job refers to. Its job handlers are returned by
// capture.Flow.Handlers.
func (s *Sidecar) buildRecordings(ctx context.Context) (*capture.Flow, error) {
	j := s.jobs
	s.sweepSpool(ctx, j, j.spool)
	m, err := newSpoolMetrics(s.reg, j.owner, j.spool, s.cfg.Recordings.SpoolMaxBytes)
	if err != nil {
		return nil, err
	}
	return capture.New(s.blobStore, j.spool, recordingJobs{j}, s.deps.Get("blob"), s.cfg.Recordings, capture.Options{
		Logger: s.log, Owner: j.owner, OnSpoolLost: m.lost.Inc,
	})
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

// sweepSpool moves aside the spool files no unfinished upload job refers
// to (see quarantineOrphans). It is skipped, with a warning, when fleet
// mode could not reach Redis at start-up: jobs only Redis holds would be
// missed.
func (s *Sidecar) sweepSpool(ctx context.Context, j *jobs, spool *blob.Spool) {
	if j.backend != s.cfg.Outbox.Backend {
		s.log.Warn("spool sweep skipped: the outbox cannot see every job while Redis is unreachable")
		return
	}
	stores := []outbox.Store{j.store}
	if j.local != nil {
		// The local fallback first: a job it forwards meanwhile is then in
		// Redis when Redis is asked.
		stores = []outbox.Store{j.local, j.store}
	}
	minAge := s.cfg.Outbox.Backoff.MaxElapsed.D()
	n, err := quarantineOrphans(ctx, stores, spool, minAge, time.Now())
	switch {
	case err != nil:
		s.log.Warn("spool sweep failed; nothing was moved", "error", err)
	case n > 0:
		s.log.Warn("spool files no upload job refers to, older than outbox.backoff.max_elapsed, were moved aside; they were never acknowledged (a crash came between the fsync and the job), clients retried them",
			"count", n, "dir", filepath.Join(spool.Dir(), "orphaned"))
	}
}

// quarantineOrphans moves spooled recordings that no unfinished blob.upload
// job in any of stores refers to, and that are older than minAge, aside
// (Spool.MoveAside). Such a file is left by a crash between the spool's
// fsync and the job's enqueue: the upload was never answered 2xx, so the
// client retried it, but the bytes are kept for a person to look at rather
// than deleted; a job that does refer to it still finds it there. Every
// store that can hold a job must be given (Redis and the local fallback):
// if one cannot be read, nothing is moved. Run it before the dispatcher
// starts.
func quarantineOrphans(ctx context.Context, stores []outbox.Store, spool *blob.Spool, minAge time.Duration, now time.Time) (int, error) {
	referenced := map[string]bool{}
	for _, store := range stores {
		if err := referencedFiles(ctx, store, referenced); err != nil {
			return 0, err
		}
	}
	files, err := spool.Committed()
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, e := range files {
		if referenced[e.Name()] {
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < minAge {
			continue // gone meanwhile, or too young to be sure
		}
		if err := spool.MoveAside(e.Name()); err != nil {
			return moved, err
		}
		moved++
	}
	return moved, nil
}

// referencedFiles adds the spool files (base names) of store's unfinished
// upload jobs to into.
func referencedFiles(ctx context.Context, store outbox.Store, into map[string]bool) error {
	f := outbox.Filter{Kind: timeline.KindBlobUpload, Limit: 1000}
	for {
		page, next, err := store.List(ctx, f)
		if err != nil {
			return err
		}
		for _, j := range page {
			if j.State == outbox.Done {
				continue
			}
			if p, err := timeline.DecodeUpload(j); err == nil && p.SpoolPath != "" {
				into[filepath.Base(p.SpoolPath)] = true
			}
		}
		if next == "" {
			return nil
		}
		f.Cursor = next
	}
}
