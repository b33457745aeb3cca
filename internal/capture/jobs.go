package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/internal/upstream"
	"github.com/holdline/holdline/outbox"
)

// recording is the recording j (an upload or attach job) describes.
func recording(j outbox.Job) timeline.Recording {
	r, _ := timeline.RecordingOf(j)
	return r
}

// Records finds an interaction's CRM record and the adapter bound to the
// endpoint that holds it (*interactions.Records). Its error wraps
// outbox.ErrHeld while that endpoint is not the active one.
type Records interface {
	Writer(ctx context.Context, j *outbox.Job) (recordID string, c crm.Client, err error)
}

// Handlers returns the outbox handlers of the recording jobs, keyed by
// kind: timeline.KindBlobUpload and timeline.KindAttachRecording. records
// routes an attachment to its record's endpoint and crmDep is the "crm"
// dependency whose policy chain each attachment part runs through.
func (f *Flow) Handlers(records Records, crmDep *resilience.Dependency) map[string]outbox.Handler {
	return map[string]outbox.Handler{
		timeline.KindBlobUpload: f.handleUpload,
		timeline.KindAttachRecording: func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
			return f.handleAttach(ctx, j, records, crmDep)
		},
	}
}

// handleUpload moves a spool file into the store, create-only with the
// CRC32C declared, then queues the attachment and removes the spool file.
// It is idempotent: an object already stored with the same bytes (a run
// that died after committing) counts as uploaded.
func (f *Flow) handleUpload(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
	p, err := timeline.DecodeUpload(*j)
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("capture: upload payload: %w", err))
	}
	crc, err := blob.DecodeCRC32C(p.CRC32C)
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("capture: upload payload: %w", err))
	}
	if p.Owner != "" && p.Owner != f.owner {
		// Another sidecar's spool holds the bytes (a peer reclaimed the
		// run of a stalled owner): leave it for the owner, spending nothing.
		return nil, fmt.Errorf("capture: upload: spool of sidecar %s: %w", p.Owner, outbox.ErrPaused)
	}
	if !f.dep.BreakerAllows() {
		return nil, fmt.Errorf("capture: upload: %w", outbox.ErrPaused)
	}
	sum := blob.Sum{Size: p.Size, CRC32C: crc, SHA256: p.SHA256}
	if err := f.uploadSpooled(ctx, p, sum); err != nil {
		return nil, jobError("upload", err)
	}
	job, err := f.enqueueAttach(ctx, timeline.AttachPayload{
		RecordingID: p.RecordingID, InteractionID: p.InteractionID, Object: p.Object, Name: p.Name,
		Stored: f.store.Kind(), Size: p.Size, CRC32C: p.CRC32C, SHA256: p.SHA256, ContentType: p.ContentType,
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, outbox.Permanent(err)
		}
		return nil, err
	}
	if err := f.spool.Remove(p.SpoolPath); err != nil {
		f.log.Warn("spool file not removed", "path", p.SpoolPath, "error", err)
	}
	return json.Marshal(timeline.UploadResult{Object: p.Object, Stored: f.store.Kind(), AttachJobID: job.ID})
}

func (f *Flow) uploadSpooled(ctx context.Context, p timeline.UploadPayload, sum blob.Sum) error {
	if a, err := f.store.Stat(ctx, p.Name); err == nil {
		return sameBytes(a, sum)
	} else if !errors.Is(err, blob.ErrNotExist) {
		return err
	}
	file, err := f.spool.Open(p.SpoolPath)
	if err != nil {
		// The owner runs this job (see handleUpload) and its spool does not
		// have the file: its data_dir was lost. Make the loss loud.
		f.lost()
		f.log.Error("recording lost: its spool file is gone from this sidecar's data_dir",
			"interaction_id", p.InteractionID, "recording_id", p.RecordingID, "error", err)
		return outbox.Permanent(fmt.Errorf("capture: spool file of %s lost: %w: %w", p.RecordingID, ErrSpoolLost, err))
	}
	defer file.Close()
	w, err := f.store.Create(ctx, p.Name, blob.Meta{
		ContentType: p.ContentType, InteractionID: p.InteractionID, RecordingID: p.RecordingID,
		SHA256: p.SHA256, CRC32C: sum.CRC32C, HasCRC32C: true,
	})
	if err != nil {
		return err
	}
	defer w.Abort()
	// Check the spool file against what the client sent before committing:
	// a damaged file must not become the recording.
	crc := crc32.New(blob.Castagnoli)
	n, err := io.Copy(io.MultiWriter(w, crc), file)
	if err != nil {
		return err
	}
	if n != sum.Size || crc.Sum32() != sum.CRC32C {
		return outbox.Permanent(fmt.Errorf("capture: spool file of %s is damaged: %d bytes crc32c %s, want %d bytes crc32c %s",
			p.RecordingID, n, blob.EncodeCRC32C(crc.Sum32()), sum.Size, p.CRC32C))
	}
	_, err = w.Commit(ctx, sum)
	if errors.Is(err, blob.ErrExists) {
		a, serr := f.store.Stat(ctx, p.Name)
		if serr != nil {
			return serr
		}
		return sameBytes(a, sum)
	}
	return err
}

func sameBytes(a blob.Attrs, sum blob.Sum) error {
	if a.Size != sum.Size || a.CRC32C != sum.CRC32C || (a.SHA256 != "" && sum.SHA256 != "" && a.SHA256 != sum.SHA256) {
		return outbox.Permanent(fmt.Errorf("capture: %s already holds other bytes: %w", a.Name, ErrConflict))
	}
	return nil
}

// handleAttach sends the recording to the interaction's CRM record in
// parts of at most recordings.attach_part_bytes (lowered to the CRM's own
// file limit, crm.MaxPartBytes), in order, each streamed
// from the store with the idempotency key attach:ID:partN.
func (f *Flow) handleAttach(ctx context.Context, j *outbox.Job, records Records, crmDep *resilience.Dependency) (json.RawMessage, error) {
	p, err := timeline.DecodeAttach(*j)
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("capture: attach payload: %w", err))
	}
	recordID, c, err := records.Writer(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("capture: attach: %w", err)
	}
	if !crmDep.BreakerAllows() {
		return nil, fmt.Errorf("capture: attach: %w", outbox.ErrPaused)
	}
	part := crm.MaxPartBytes(c, f.cfg.AttachPartBytes)
	parts := max(1, int((p.Size+part-1)/part))
	ids := make([]string, 0, parts)
	for i := range parts {
		off := int64(i) * part
		n := min(part, p.Size-off)
		rc, err := f.store.Open(ctx, p.Name, off, n)
		if err != nil {
			return nil, jobError("attach: read", err)
		}
		a := crm.Attachment{Name: path.Base(p.Name), ContentType: p.ContentType, Size: n, Body: rc}
		if parts > 1 {
			a.Part, a.Parts = i+1, parts
		}
		key := timeline.AttachPartKey(p.RecordingID, i+1)
		id, err := resilience.Write(ctx, crmDep, "attach_recording", func(context.Context) (string, error) {
			// A part may be tens of megabytes: it is bounded by the job's
			// ctx, not by the CRM timeout meant for small calls; the
			// breaker and bulkhead still see it.
			return c.AttachFile(ctx, recordID, a, key)
		})
		rc.Close()
		if err != nil {
			return nil, jobError(fmt.Sprintf("attach part %d of %d", i+1, parts), err)
		}
		ids = append(ids, id)
	}
	return json.Marshal(timeline.AttachResult{AttachmentIDs: ids})
}

// jobError maps a dependency's error to the outbox's vocabulary: an open
// breaker pauses, a permanent answer buries, anything else is retried.
func jobError(op string, err error) error {
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen):
		return fmt.Errorf("capture: %s: %w: %w", op, outbox.ErrPaused, err)
	case upstream.IsAuthFailure(err):
		// The credentials are refused, not the write: never dead.
		return fmt.Errorf("capture: %s: credentials refused (auth_failed): %w: %w", op, outbox.ErrPaused, err)
	case upstream.IsPermanent(err), errors.Is(err, crm.ErrNotFound):
		return outbox.Permanent(fmt.Errorf("capture: %s: %w", op, err))
	}
	return fmt.Errorf("capture: %s: %w", op, err)
}
