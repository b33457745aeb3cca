package timeline

import "github.com/holdline/holdline/outbox"

// Recording is where one recording is and whether the CRM has it, as its
// jobs say: the answer to an upload, and an entry of GET
// /v1/interactions/{id}.
type Recording struct {
	RecordingID string
	// Object is the recording's URI in the store (gs://bucket/name or
	// file:///...), also while the bytes are still spooled.
	Object string
	Size   int64
	// CRC32C is base64 of the big-endian checksum; SHA256 is hex.
	CRC32C string
	SHA256 string
	// Stored is gcs or dir once the bytes are in the store, spool while
	// they wait on local disk for a blob.upload job.
	Stored string
	// CRM is queued, held (waiting for the endpoint holding the record),
	// attached or dead.
	CRM string
	// JobID is the job the recording waits on (or last finished).
	JobID string
}

// RecordingOf returns the recording a blob.upload or crm.attach_recording
// job describes, and false for a job of another kind or with an
// unreadable payload. An attach job says where the bytes are and whether
// the CRM has them; an upload job alone means the bytes are still spooled
// (or just uploaded, with the attach not queued yet).
func RecordingOf(j outbox.Job) (Recording, bool) {
	switch j.Kind {
	case KindAttachRecording:
		p, err := DecodeAttach(j)
		if err != nil || p.RecordingID == "" {
			return Recording{}, false
		}
		r := Recording{RecordingID: p.RecordingID, Object: p.Object, Size: p.Size, CRC32C: p.CRC32C, SHA256: p.SHA256,
			Stored: p.Stored, CRM: crmState(j.State), JobID: j.ID}
		if j.State == outbox.Done {
			r.CRM = "attached"
		}
		return r, true
	case KindBlobUpload:
		p, err := DecodeUpload(j)
		if err != nil || p.RecordingID == "" {
			return Recording{}, false
		}
		r := Recording{RecordingID: p.RecordingID, Object: p.Object, Size: p.Size, CRC32C: p.CRC32C, SHA256: p.SHA256,
			Stored: "spool", CRM: crmState(j.State), JobID: j.ID}
		if j.State == outbox.Done {
			// Uploaded from the spool; the attach comes next. Results
			// written before they named the store are from GCS.
			r.Stored = "gcs"
			if res, err := DecodeUploadResult(j); err == nil && res.Stored != "" {
				r.Stored = res.Stored
			}
		}
		return r, true
	}
	return Recording{}, false
}

// Recordings folds an interaction's recording jobs (in enqueue order) into
// one entry per recording, in order of its first job; a later job of a
// recording (its attach after its upload) updates the entry.
func Recordings(jobs []outbox.Job) []Recording {
	var out []Recording
	at := map[string]int{}
	for _, j := range jobs {
		r, ok := RecordingOf(j)
		if !ok {
			continue
		}
		i, seen := at[r.RecordingID]
		if !seen {
			at[r.RecordingID] = len(out)
			out = append(out, r)
			continue
		}
		if r.Object == "" {
			r.Object = out[i].Object
		}
		if r.SHA256 == "" {
			r.SHA256 = out[i].SHA256
		}
		out[i] = r
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
