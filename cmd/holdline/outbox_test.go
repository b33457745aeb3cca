package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// seedStore makes a stopped sidecar's data dir with one dead job and one
// done job.
func seedStore(t *testing.T) (dir, deadID string) {
	t.Helper()
	dir = t.TempDir()
	s, err := outbox.OpenBolt(filepath.Join(dir, "outbox.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for i, key := range []string{"record:call-1", "record:call-2"} {
		j, _, err := s.Enqueue(ctx, outbox.Job{Kind: timeline.KindCreateRecord, Dependency: timeline.DependencyCRM, InteractionID: strings.TrimPrefix(key, "record:"), IdempotencyKey: key, Payload: json.RawMessage(`{"subject":"x"}`)})
		if err != nil {
			t.Fatal(err)
		}
		claimed, err := s.Claim(ctx, time.Now(), 10, nil)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		if i == 0 {
			deadID = j.ID
			err = s.Fail(ctx, j.ID, outbox.Failure{Err: "http 400: missing field", Dead: true})
		} else {
			err = s.Complete(ctx, j.ID, json.RawMessage(`{"record_id":"1"}`))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir, deadID
}

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb syncBuffer
	err := run(t.Context(), append([]string{"holdline"}, args...), func(string) string { return "" }, &out, &errb)
	code := exitCode(err, &errb)
	return out.String() + errb.String(), code
}

func TestOutboxOffline(t *testing.T) {
	t.Parallel()
	dir, deadID := seedStore(t)
	out, code := runCLI(t, "outbox", "list", "--data-dir", dir, "--state", "dead")
	if code != 0 || !strings.Contains(out, deadID) || !strings.Contains(out, "1 job(s)") {
		t.Fatalf("outbox list --state dead = %d:\n%s", code, out)
	}
	out, code = runCLI(t, "outbox", "show", deadID, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "missing field") {
		t.Fatalf("outbox show = %d:\n%s", code, out)
	}
	out, code = runCLI(t, "outbox", "replay", "--state", "dead", "--dry-run", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "would replay 1") {
		t.Fatalf("replay --dry-run = %d:\n%s", code, out)
	}
	out, code = runCLI(t, "outbox", "replay", "--state", "dead", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "replayed 1 of 1") || !strings.Contains(out, "next start") {
		t.Fatalf("replay = %d:\n%s", code, out)
	}
	out, _ = runCLI(t, "outbox", "list", "--data-dir", dir, "--state", "pending", "--json")
	var jobs []outbox.Job
	if err := json.Unmarshal([]byte(out), &jobs); err != nil || len(jobs) != 1 || jobs[0].ID != deadID || jobs[0].Attempts != 0 {
		t.Fatalf("after offline replay, pending = %s (%v); want the job with attempts reset", out, err)
	}
	out, code = runCLI(t, "outbox", "purge", "--state", "done", "--older-than", "0s", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "purged 1 done") {
		t.Fatalf("purge = %d:\n%s", code, out)
	}
}

func TestOutboxOfflineRefusesWhileHeld(t *testing.T) {
	t.Parallel()
	dir, _ := seedStore(t)
	s, err := outbox.OpenBolt(filepath.Join(dir, "outbox.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, code := runCLI(t, "outbox", "list", "--data-dir", dir)
	if code != 1 || !strings.Contains(out, "held by a running sidecar") {
		t.Fatalf("offline list while held = %d:\n%s", code, out)
	}
}

func TestOutboxReplayNeedsAFilter(t *testing.T) {
	t.Parallel()
	out, code := runCLI(t, "outbox", "replay", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(out, "at least one filter") {
		t.Fatalf("replay without ids or filters = %d: %s", code, out)
	}
}
