package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAppendReadRotate(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	l, err := Open(dir, Options{MaxBytes: 400, Keep: 2, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 12 {
		if err := l.Append(Entry{Actor: "oncall", Action: "breaker.set", Target: "crm", Reason: "vendor outage", Result: "ok", Details: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	rotated, _ := filepath.Glob(filepath.Join(dir, "audit.log.*"))
	if len(rotated) != 2 {
		t.Errorf("rotated files = %d, want Keep=2", len(rotated))
	}
	all, err := l.Read(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || len(all) >= 12 {
		t.Fatalf("Read after rotation = %d entries, want some but not all (old files pruned)", len(all))
	}
	last := all[len(all)-1]
	if last.Details["i"] != float64(11) || last.Actor != "oncall" {
		t.Errorf("last entry = %+v, want i=11 by oncall", last)
	}
	since := all[len(all)-3].Time
	recent, _ := l.Read(since, 0)
	if len(recent) != 3 {
		t.Errorf("Read(since) = %d entries, want 3", len(recent))
	}
	if got, _ := l.Read(time.Time{}, 2); len(got) != 2 || got[1].Details["i"] != float64(11) {
		t.Errorf("Read(limit 2) = %+v, want the newest two", got)
	}
}

func TestTornLineIsSkipped(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Actor: "a", Action: "x", Target: "t", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, _ := os.OpenFile(filepath.Join(dir, "audit.log"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-`) // kill -9 mid-write
	f.Close()
	l, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Entry{Actor: "b", Action: "y", Target: "t", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(time.Time{}, 0)
	if err != nil || len(got) != 2 || got[0].Actor != "a" || got[1].Actor != "b" {
		t.Fatalf("Read after a torn line = %+v, %v; want a's and b's entries, the torn one skipped", got, err)
	}
}

// TestOverlongLineDoesNotHideLaterEntries: a line longer than Read parses
// is skipped, and the entries after it are still returned.
func TestOverlongLineDoesNotHideLaterEntries(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Actor: "a", Action: "x", Target: "t", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, _ := os.OpenFile(filepath.Join(dir, "audit.log"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"actor":"huge","reason":"` + strings.Repeat("x", 3<<20) + "\"}\n")
	f.Close()
	l, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Entry{Actor: "b", Action: "y", Target: "t", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(time.Time{}, 0)
	if err != nil || len(got) != 2 || got[0].Actor != "a" || got[1].Actor != "b" {
		t.Fatalf("Read past a 3 MiB line = %d entries %v; want a's and b's, the long line skipped", len(got), err)
	}
}
