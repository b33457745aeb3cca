package main

import (
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/audit"
)

// TestOfflineMutationsAreAudited: outbox replay and purge against a
// stopped sidecar's data dir are recorded in its audit log like the same
// calls through the admin API, with the OS user as the actor; reads and
// dry runs record nothing.
func TestOfflineMutationsAreAudited(t *testing.T) {
	t.Parallel()
	dir, deadID := seedStore(t)
	for _, args := range [][]string{
		{"outbox", "list", "--data-dir", dir},
		{"outbox", "show", deadID, "--data-dir", dir},
		{"outbox", "replay", "--state", "dead", "--dry-run", "--data-dir", dir},
	} {
		if out, code := runCLI(t, args...); code != 0 {
			t.Fatalf("%v = %d:\n%s", args, code, out)
		}
	}
	if out, code := runCLI(t, "outbox", "replay", deadID, "--reason", "CRM field fixed", "--data-dir", dir); code != 0 {
		t.Fatalf("replay = %d:\n%s", code, out)
	}
	if out, code := runCLI(t, "outbox", "purge", "--state", "done", "--older-than", "0s", "--reason", "housekeeping", "--data-dir", dir); code != 0 {
		t.Fatalf("purge = %d:\n%s", code, out)
	}

	l, err := audit.Open(dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, err := l.Read(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("audit entries = %+v, want exactly the replay and the purge", got)
	}
	replay, purge := got[0], got[1]
	for _, e := range got {
		if !strings.HasPrefix(e.Actor, "os:") || e.Actor == "os:" || e.Details["via"] != "cli --data-dir" {
			t.Errorf("entry %+v: want actor os:<user> and via cli --data-dir", e)
		}
	}
	if replay.Action != "outbox.replay" || replay.Target != deadID || replay.Reason != "CRM field fixed" || replay.Result != "ok" {
		t.Errorf("replay entry = %+v", replay)
	}
	if purge.Action != "outbox.purge" || purge.Reason != "housekeeping" || purge.Result != "ok" || purge.Details["purged"] != float64(1) {
		t.Errorf("purge entry = %+v", purge)
	}
}
