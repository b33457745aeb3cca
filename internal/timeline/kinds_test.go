package timeline_test

import (
	"testing"

	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

func TestCanQueue(t *testing.T) {
	record := outbox.Job{Kind: timeline.KindCreateRecord, State: outbox.Dead}
	upload := outbox.Job{Kind: timeline.KindBlobUpload}
	tests := []struct {
		name string
		kind string
		jobs []outbox.Job
		want bool
	}{
		{"comment behind a record write", timeline.KindAddComment, []outbox.Job{upload, record}, true},
		{"comment without a record write", timeline.KindAddComment, []outbox.Job{upload}, false},
		{"comment on an unknown interaction", timeline.KindAddComment, nil, false},
		{"first record write", timeline.KindCreateRecord, nil, true},
		{"recording before any record", timeline.KindBlobUpload, nil, true},
		{"attachment before any record", timeline.KindAttachRecording, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := timeline.CanQueue(tc.kind, tc.jobs); got != tc.want {
				t.Errorf("CanQueue(%s) = %v, want %v", tc.kind, got, tc.want)
			}
		})
	}
}

func TestSetsRecord(t *testing.T) {
	for _, tc := range []struct {
		kind       string
		setsRecord bool
	}{
		{timeline.KindCreateRecord, true},
		{timeline.KindAddComment, false},
		{timeline.KindMoveRecord, true},
		{timeline.KindBlobUpload, false},
		{timeline.KindAttachRecording, false},
	} {
		if got := timeline.SetsRecord(tc.kind); got != tc.setsRecord {
			t.Errorf("SetsRecord(%s) = %v, want %v", tc.kind, got, tc.setsRecord)
		}
	}
}

func TestSpoolDependency(t *testing.T) {
	if got := timeline.SpoolDependency(""); got != timeline.DependencyBlob {
		t.Errorf(`SpoolDependency("") = %q, want %q`, got, timeline.DependencyBlob)
	}
	dep := timeline.SpoolDependency("sc-1")
	if owner, ok := timeline.SpoolOwner(dep); !ok || owner != "sc-1" {
		t.Errorf("SpoolOwner(%q) = %q, %v; want sc-1, true", dep, owner, ok)
	}
	for _, dep := range []string{timeline.DependencyBlob, timeline.DependencyCRM} {
		if owner, ok := timeline.SpoolOwner(dep); ok {
			t.Errorf("SpoolOwner(%q) = %q, true; want not a spool", dep, owner)
		}
	}
}

// TestKeys pins the idempotency key shapes stored with queued jobs and sent
// to the CRM.
func TestKeys(t *testing.T) {
	for got, want := range map[string]string{
		timeline.UploadKey("rec-1"):         "upload:rec-1",
		timeline.AttachKey("rec-1"):         "attach:rec-1",
		timeline.AttachPartKey("rec-1", 12): "attach:rec-1:part12",
	} {
		if got != want {
			t.Errorf("key = %q, want %q", got, want)
		}
	}
}
