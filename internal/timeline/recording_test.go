package timeline_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

func TestRecordings(t *testing.T) {
	up := func(id, rec string, st outbox.State, result string) outbox.Job {
		j := timeline.UploadJob(timeline.UploadPayload{RecordingID: rec, InteractionID: "i", Object: "gs://b/" + rec, Size: 3, CRC32C: "c", SHA256: "s"})
		j.ID, j.State = id, st
		if result != "" {
			j.Result = json.RawMessage(result)
		}
		return j
	}
	at := func(id, rec string, st outbox.State) outbox.Job {
		j := timeline.AttachJob(timeline.AttachPayload{RecordingID: rec, InteractionID: "i", Object: "gs://b/" + rec, Stored: "dir", Size: 3, CRC32C: "c", SHA256: "s"})
		j.ID, j.State = id, st
		return j
	}
	other := outbox.Job{ID: "0", Kind: timeline.KindCreateRecord, State: outbox.Done, Payload: json.RawMessage(`{"recording_id":"rec-x"}`)}
	jobs := []outbox.Job{
		other,
		up("1", "rec-a", outbox.Done, `{"object":"gs://b/rec-a","stored":"dir","attach_job_id":"3"}`),
		up("2", "rec-b", outbox.Held, ""),
		at("3", "rec-a", outbox.Done),
		up("4", "rec-c", outbox.Done, `{"object":"gs://b/rec-c"}`), // a result from before uploads named their store
		at("5", "rec-d", outbox.Dead),
		up("6", "rec-e", outbox.Pending, ""),
	}
	rec := func(id, stored, crm, job string) timeline.Recording {
		return timeline.Recording{RecordingID: id, Object: "gs://b/" + id, Size: 3, CRC32C: "c", SHA256: "s", Stored: stored, CRM: crm, JobID: job}
	}
	want := []timeline.Recording{
		rec("rec-a", "dir", "attached", "3"),
		rec("rec-b", "spool", "held", "2"),
		rec("rec-c", "gcs", "queued", "4"),
		rec("rec-d", "dir", "dead", "5"),
		rec("rec-e", "spool", "queued", "6"),
	}
	if diff := cmp.Diff(want, timeline.Recordings(jobs)); diff != "" {
		t.Errorf("Recordings (-want +got):\n%s", diff)
	}
	if _, ok := timeline.RecordingOf(other); ok {
		t.Error("RecordingOf(crm.create_record job) = true, want false")
	}
}
