package interactions

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/outbox"
)

// View is what holdline knows and has pending for one interaction.
type View struct {
	InteractionID string
	// RecordID is the CRM record, once a record job is done.
	RecordID string
	// Jobs are every job of the interaction, done ones included, in
	// enqueue order.
	Jobs []outbox.Job
	// Recordings are read from the recording jobs, in order of first job.
	Recordings []Recording
}

// Recording is where one recording is and whether the CRM has it.
type Recording struct {
	RecordingID string
	Object      string
	Size        int64
	CRC32C      string
	SHA256      string
	// Stored is gcs or dir once the bytes are in the store, spool while
	// they wait on local disk for a blob.upload job.
	Stored string
	// CRM is queued, held (waiting for the endpoint holding the record),
	// attached or dead.
	CRM string
	// JobID is the job the recording waits on (or last finished).
	JobID string
}

// recordingPayload is the part of blob.upload and crm.attach_recording
// payloads that Get shows.
type recordingPayload struct {
	RecordingID string `json:"recording_id"`
	Object      string `json:"object"`
	Stored      string `json:"stored"`
	Size        int64  `json:"size"`
	CRC32C      string `json:"crc32c"`
	SHA256      string `json:"sha256"`
}

// Get returns what holdline has for an interaction. It returns ENOTFOUND
// wrapping ErrUnknown when it has no jobs for it, and EUNAVAILABLE
// (retryable) wrapping the store's error when the outbox cannot be read.
func (s *Service) Get(ctx context.Context, interactionID string) (View, error) {
	jobs, err := s.store.Interaction(ctx, interactionID)
	if err != nil {
		return View{}, unavailable("the outbox could not be read", fmt.Errorf("interactions: get: %w", err))
	}
	if len(jobs) == 0 {
		return View{}, holdline.Wrap(holdline.ENOTFOUND, "interaction_id", "holdline has no writes or recordings for interaction "+interactionID, ErrUnknown)
	}
	return View{InteractionID: interactionID, RecordID: RecordID(jobs, ""), Jobs: jobs, Recordings: recordings(jobs)}, nil
}

// recordings folds the recording jobs into one entry per recording: an
// attach job (queued once the bytes are durable) says where the bytes are
// and whether the CRM has them; an upload job alone means the bytes are
// still spooled (or just uploaded, with the attach not queued yet).
func recordings(jobs []outbox.Job) []Recording {
	var out []Recording
	at := map[string]int{}
	for _, j := range jobs {
		if j.Kind != KindBlobUpload && j.Kind != KindAttachRecording {
			continue
		}
		var p recordingPayload
		if json.Unmarshal(j.Payload, &p) != nil || p.RecordingID == "" {
			continue
		}
		i, ok := at[p.RecordingID]
		if !ok {
			i = len(out)
			at[p.RecordingID] = i
			out = append(out, Recording{RecordingID: p.RecordingID})
		}
		r := &out[i]
		r.Size, r.CRC32C, r.JobID = p.Size, p.CRC32C, j.ID
		if p.Object != "" {
			r.Object = p.Object
		}
		if p.SHA256 != "" {
			r.SHA256 = p.SHA256
		}
		r.CRM = crmState(j.State)
		switch {
		case j.Kind == KindAttachRecording:
			r.Stored = p.Stored
			if j.State == outbox.Done {
				r.CRM = "attached"
			}
		case j.State == outbox.Done:
			r.Stored = "gcs" // uploaded from the spool; the attach comes next
		default:
			r.Stored = "spool"
		}
	}
	return out
}

func crmState(s outbox.State) string {
	switch s {
	case outbox.Dead:
		return "dead"
	case outbox.Held:
		return "held"
	}
	return "queued"
}
