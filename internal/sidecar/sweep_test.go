package sidecar

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// TestQuarantineOrphans: the sweep asks every store (a job only the local
// fallback holds keeps its file), never moves a file younger than the
// retry horizon, and a moved file is still found through the spool.
func TestQuarantineOrphans(t *testing.T) {
	dir := t.TempDir()
	spool, err := blob.OpenSpool(filepath.Join(dir, "spool"), blob.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	commit := func(id string, age time.Duration) string {
		f, err := spool.Create(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(id)); err != nil {
			t.Fatal(err)
		}
		p, err := f.Commit()
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	remote, err := outbox.OpenBolt(filepath.Join(dir, "remote.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remote.Close() })
	local, err := outbox.OpenBolt(filepath.Join(dir, "local.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })

	kept := commit("rec-local-job", 48*time.Hour)
	orphan := commit("rec-orphan", 48*time.Hour)
	young := commit("rec-young", time.Minute)
	up := timeline.UploadJob(timeline.UploadPayload{RecordingID: "rec-local-job", InteractionID: "i", SpoolPath: kept})
	if _, _, err := local.Enqueue(t.Context(), up); err != nil {
		t.Fatal(err)
	}

	n, err := quarantineOrphans(t.Context(), []outbox.Store{local, remote}, spool, 24*time.Hour, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("quarantineOrphans = %d, %v; want 1 moved", n, err)
	}
	for _, p := range []string{kept, young} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was moved: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("old unreferenced %s still in the spool: %v", filepath.Base(orphan), err)
	}
	f, err := spool.Open(orphan)
	if err != nil {
		t.Fatalf("moved file not found through the spool: %v", err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "rec-orphan" {
		t.Errorf("moved file holds %q", b)
	}
}
