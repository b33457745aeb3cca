package timeline_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// previousJobs are jobs as the version before this catalogue stored them
// (outbox.Job JSON, its payload written by internal/interactions and
// internal/capture's own structs): a sidecar upgraded with these queued
// must still run them.
var previousJobs = []struct {
	name string
	job  string
	want any
}{
	{
		"create record",
		`{"id":"01JD000000000000000000000A","kind":"crm.create_record","dependency":"crm","interaction_id":"call-1",
		  "idempotency_key":"record:call-1:0123456789abcdef0123456789abcdef",
		  "payload":{"request_hash":"9f86d0","record":{"interaction_id":"call-1","contact_id":"c-9","phone":"+15551234567",
		    "subject":"Billing","description":"late fee","channel":"voice","queue":"billing","fields":{"priority":"high"}}},
		  "state":"pending","attempts":0,"next_attempt_at":"2026-11-23T10:00:00Z","created_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:00Z"}`,
		timeline.RecordPayload{RequestHash: "9f86d0", Record: crm.NewRecord{InteractionID: "call-1", ContactID: "c-9", Phone: "+15551234567",
			Subject: "Billing", Description: "late fee", Channel: "voice", Queue: "billing", Fields: map[string]any{"priority": "high"}}},
	},
	{
		"add comment",
		`{"id":"01JD000000000000000000000B","kind":"crm.add_comment","dependency":"crm","interaction_id":"call-1",
		  "idempotency_key":"comment:call-1:0123456789abcdef0123456789abcdef",
		  "payload":{"request_hash":"60303a","comment":{"body":"called back","author":"agent-7"}},
		  "state":"held","attempts":0,"next_attempt_at":"2026-11-23T10:00:00Z","created_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:00Z"}`,
		timeline.CommentPayload{RequestHash: "60303a", Comment: crm.Comment{Body: "called back", Author: "agent-7"}},
	},
	{
		"move record",
		`{"id":"01JD000000000000000000000C","kind":"crm.move_record","dependency":"crm","interaction_id":"call-1",
		  "idempotency_key":"move:0123456789abcdef0123456789abcdef",
		  "payload":{"to":"secondary","from":{"record_id":"R-1","endpoint":"primary"},"reason":"primary gone"},
		  "state":"pending","attempts":0,"next_attempt_at":"2026-11-23T10:00:00Z","created_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:00Z"}`,
		timeline.MovePayload{To: "secondary", From: timeline.RecordRef{ID: "R-1", Endpoint: "primary"}, Reason: "primary gone"},
	},
	{
		"blob upload",
		`{"id":"01JD000000000000000000000D","kind":"blob.upload","dependency":"spool:sc-1","interaction_id":"call-1",
		  "idempotency_key":"upload:rec-1",
		  "payload":{"recording_id":"rec-1","interaction_id":"call-1","spool_path":"/data/spool/rec-1","object":"gs://b/recordings/2026/11/23/call-1/rec-1.wav",
		    "name":"recordings/2026/11/23/call-1/rec-1.wav","size":1024,"crc32c":"AAAAAA==","sha256":"ab12","content_type":"audio/wav","owner":"sc-1"},
		  "state":"pending","attempts":0,"next_attempt_at":"2026-11-23T10:00:00Z","created_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:00Z"}`,
		timeline.UploadPayload{RecordingID: "rec-1", InteractionID: "call-1", SpoolPath: "/data/spool/rec-1", Object: "gs://b/recordings/2026/11/23/call-1/rec-1.wav",
			Name: "recordings/2026/11/23/call-1/rec-1.wav", Size: 1024, CRC32C: "AAAAAA==", SHA256: "ab12", ContentType: "audio/wav", Owner: "sc-1"},
	},
	{
		"attach recording",
		`{"id":"01JD000000000000000000000E","kind":"crm.attach_recording","dependency":"crm","interaction_id":"call-1",
		  "idempotency_key":"attach:rec-1",
		  "payload":{"recording_id":"rec-1","interaction_id":"call-1","object":"gs://b/recordings/2026/11/23/call-1/rec-1.wav",
		    "name":"recordings/2026/11/23/call-1/rec-1.wav","stored":"gcs","size":1024,"crc32c":"AAAAAA==","sha256":"ab12","content_type":"audio/wav"},
		  "state":"dead","attempts":3,"next_attempt_at":"2026-11-23T10:00:00Z","created_at":"2026-11-23T10:00:00Z","updated_at":"2026-11-23T10:00:00Z"}`,
		timeline.AttachPayload{RecordingID: "rec-1", InteractionID: "call-1", Object: "gs://b/recordings/2026/11/23/call-1/rec-1.wav",
			Name: "recordings/2026/11/23/call-1/rec-1.wav", Stored: "gcs", Size: 1024, CRC32C: "AAAAAA==", SHA256: "ab12", ContentType: "audio/wav"},
	},
}

// TestDecodesPreviousVersionJobs: each kind's payload, as the previous
// version wrote it, decodes to the same values, and the job this
// version would build from those values carries the same kind,
// dependency, key and payload (so a job queued by either version runs on
// the other).
func TestDecodesPreviousVersionJobs(t *testing.T) {
	for _, tc := range previousJobs {
		t.Run(tc.name, func(t *testing.T) {
			var j outbox.Job
			if err := json.Unmarshal([]byte(tc.job), &j); err != nil {
				t.Fatalf("stored job: %v", err)
			}
			got, rebuilt, err := decodeAndRebuild(j)
			if err != nil {
				t.Fatalf("decode %s: %v", j.Kind, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decoded %s payload (-want +got):\n%s", j.Kind, diff)
			}
			if rebuilt.Kind != j.Kind || rebuilt.Dependency != j.Dependency || rebuilt.InteractionID != j.InteractionID || rebuilt.IdempotencyKey != j.IdempotencyKey {
				t.Errorf("rebuilt job = kind %q dependency %q interaction %q key %q, stored %q %q %q %q",
					rebuilt.Kind, rebuilt.Dependency, rebuilt.InteractionID, rebuilt.IdempotencyKey,
					j.Kind, j.Dependency, j.InteractionID, j.IdempotencyKey)
			}
			if diff := cmp.Diff(jsonValue(t, j.Payload), jsonValue(t, rebuilt.Payload)); diff != "" {
				t.Errorf("payload this version writes differs from the stored one (-stored +new):\n%s", diff)
			}
		})
	}
}

// decodeAndRebuild decodes j's payload by its kind and builds the job
// this version queues for the same payload.
func decodeAndRebuild(j outbox.Job) (any, outbox.Job, error) {
	switch j.Kind {
	case timeline.KindCreateRecord:
		p, err := timeline.DecodeRecord(j)
		if err != nil {
			return nil, outbox.Job{}, err
		}
		nj, err := timeline.CreateRecordJob(j.InteractionID, j.IdempotencyKey, p)
		return p, nj, err
	case timeline.KindAddComment:
		p, err := timeline.DecodeComment(j)
		if err != nil {
			return nil, outbox.Job{}, err
		}
		nj, err := timeline.AddCommentJob(j.InteractionID, j.IdempotencyKey, p)
		return p, nj, err
	case timeline.KindMoveRecord:
		p, err := timeline.DecodeMove(j)
		if err != nil {
			return nil, outbox.Job{}, err
		}
		nj, err := timeline.MoveRecordJob(j.InteractionID, j.IdempotencyKey, p)
		return p, nj, err
	case timeline.KindBlobUpload:
		p, err := timeline.DecodeUpload(j)
		return p, timeline.UploadJob(p), err
	case timeline.KindAttachRecording:
		p, err := timeline.DecodeAttach(j)
		return p, timeline.AttachJob(p), err
	}
	return nil, outbox.Job{}, nil
}

func jsonValue(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return v
}

// TestKindStrings pins the kind strings stored with every queued job.
func TestKindStrings(t *testing.T) {
	want := []string{"crm.create_record", "crm.add_comment", "blob.upload", "crm.attach_recording", "crm.move_record"}
	if diff := cmp.Diff(want, timeline.Kinds()); diff != "" {
		t.Errorf("Kinds() (-want +got):\n%s", diff)
	}
}

// TestDecodesPreviousVersionResults: results as the previous version wrote
// them, including ones from before records remembered their endpoint.
func TestDecodesPreviousVersionResults(t *testing.T) {
	tests := []struct {
		name, kind, result string
		want               timeline.RecordResult
	}{
		{"record before endpoints", timeline.KindCreateRecord, `{"record_id":"R-1"}`, timeline.RecordResult{RecordID: "R-1"}},
		{"record", timeline.KindCreateRecord, `{"record_id":"R-1","endpoint":"secondary"}`, timeline.RecordResult{RecordID: "R-1", Endpoint: "secondary"}},
		{"append", timeline.KindCreateRecord, `{"record_id":"R-1","comment_id":"C-2","appended":true}`, timeline.RecordResult{RecordID: "R-1", CommentID: "C-2", Appended: true}},
		{"comment", timeline.KindAddComment, `{"record_id":"R-1","comment_id":"C-3"}`, timeline.RecordResult{RecordID: "R-1", CommentID: "C-3"}},
		{"move", timeline.KindMoveRecord, `{"record_id":"R-9","endpoint":"secondary"}`, timeline.RecordResult{RecordID: "R-9", Endpoint: "secondary"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := timeline.DecodeRecordResult(outbox.Job{ID: "j", Kind: tc.kind, Result: json.RawMessage(tc.result)})
			if err != nil || got != tc.want {
				t.Errorf("DecodeRecordResult(%s) = %+v, %v; want %+v", tc.result, got, err, tc.want)
			}
		})
	}
	up, err := timeline.DecodeUploadResult(outbox.Job{ID: "j", Kind: timeline.KindBlobUpload,
		Result: json.RawMessage(`{"object":"gs://b/o.wav","stored":"gcs","attach_job_id":"01JD"}`)})
	if want := (timeline.UploadResult{Object: "gs://b/o.wav", Stored: "gcs", AttachJobID: "01JD"}); err != nil || up != want {
		t.Errorf("DecodeUploadResult = %+v, %v; want %+v", up, err, want)
	}
}

// TestDecodeRefusesOtherKinds: a payload is read only as its own kind's.
func TestDecodeRefusesOtherKinds(t *testing.T) {
	j := outbox.Job{ID: "j", Kind: timeline.KindBlobUpload, Payload: json.RawMessage(`{"recording_id":"rec-1"}`)}
	if _, err := timeline.DecodeAttach(j); err == nil {
		t.Error("DecodeAttach(blob.upload job) succeeded, want an error")
	}
	j = outbox.Job{ID: "j", Kind: timeline.KindAttachRecording, Payload: json.RawMessage(`{"recording_id":`)}
	if _, err := timeline.DecodeAttach(j); err == nil {
		t.Error("DecodeAttach(truncated payload) succeeded, want an error")
	}
}
