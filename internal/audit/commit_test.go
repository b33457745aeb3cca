package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestGroupCommit: Append answers only after its entry is fsynced, and
// the entries that arrive while one fsync runs are committed together by
// the next one: 1 + 20 concurrent appends cost 2 fsyncs, and none of them
// returns before the fsync that covers it.
func TestGroupCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		release := make(chan struct{})
		var syncs atomic.Int32
		l, err := Open(dir, Options{sync: func(f *os.File) error {
			if syncs.Add(1) == 1 {
				<-release // hold the first fsync
			}
			return f.Sync()
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()

		first := make(chan error, 1)
		go func() { first <- l.Append(Entry{Actor: "a", Action: "x", Target: "first", Result: "ok"}) }()
		synctest.Wait() // the writer is inside the first fsync
		if syncs.Load() != 1 {
			t.Fatalf("fsyncs = %d, want the first one running", syncs.Load())
		}
		const n = 20
		rest := make(chan error, n)
		for i := range n {
			go func() {
				rest <- l.Append(Entry{Actor: "b", Action: "x", Target: fmt.Sprint(i), Result: "ok"})
			}()
		}
		synctest.Wait()
		select {
		case err := <-first:
			t.Fatalf("Append returned (%v) before its fsync finished", err)
		case err := <-rest:
			t.Fatalf("an Append returned (%v) before any fsync covering it", err)
		default:
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := <-rest; err != nil {
				t.Fatal(err)
			}
		}
		if got := syncs.Load(); got != 2 {
			t.Errorf("fsyncs = %d for 1 + %d appends, want 2 (one per batch)", got, n)
		}
		all, err := l.Read(time.Time{}, 0)
		if err != nil || len(all) != n+1 {
			t.Fatalf("Read = %d entries, %v; want %d", len(all), err, n+1)
		}
	})
}

// TestAppendAfterCloseFails: a closed log says so; entries queued before
// Close are committed.
func TestAppendAfterCloseFails(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Actor: "a", Action: "x", Target: "t", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Actor: "a", Action: "x", Target: "t", Result: "ok"}); err != ErrClosed {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// TestTailReadsOnlyWhatItNeeds: Read with a limit reads the newest file
// from its end and stops there; an unreadable old rotated file (here a
// directory in its place) does not matter to it, while a full Read
// reports the error rather than skipping it.
func TestTailReadsOnlyWhatItNeeds(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	l, err := Open(dir, Options{MaxBytes: 2000, Keep: 5, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 60 {
		if err := l.Append(Entry{Actor: "oncall", Action: "breaker.set", Target: "crm", Reason: "drill", Result: "ok", Details: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := l.Read(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 5, 15, len(all), len(all) + 10} {
		got, err := l.Read(time.Time{}, limit)
		if err != nil {
			t.Fatal(err)
		}
		want := all[max(0, len(all)-limit):]
		if len(got) != len(want) {
			t.Fatalf("Read(limit %d) = %d entries, want %d", limit, len(got), len(want))
		}
		for i := range want {
			if got[i].Details["i"] != want[i].Details["i"] {
				t.Fatalf("Read(limit %d)[%d] = i %v, want %v", limit, i, got[i].Details["i"], want[i].Details["i"])
			}
		}
	}
	since := all[len(all)-8].Time
	if got, _ := l.Read(since, 100); len(got) != 8 {
		t.Errorf("Read(since, 100) = %d entries, want 8", len(got))
	}

	rotated, _ := filepath.Glob(filepath.Join(dir, "audit.log.*"))
	if len(rotated) < 2 {
		t.Fatalf("rotated files = %d, want several", len(rotated))
	}
	if err := os.Remove(rotated[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rotated[0], 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(time.Time{}, 3); err != nil || len(got) != 3 {
		t.Errorf("Read(limit 3) with an unreadable old file = %d, %v; want 3 entries from the newest file", len(got), err)
	}
	if _, err := l.Read(time.Time{}, 0); err == nil {
		t.Error("a full Read with an unreadable file returned no error")
	}
}

// TestTailSkipsTornAndOverlongLines: reading backwards, a torn last line
// and a line over 1 MiB are skipped and the entries around them found.
func TestTailSkipsTornAndOverlongLines(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Actor: "a", Action: "x", Target: "t", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, err := os.OpenFile(filepath.Join(dir, "audit.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"actor":"huge","reason":"` + strings.Repeat("x", 3<<20) + "\"}\n")
	f.WriteString(`{"time":"2026-`) // torn
	f.Close()
	l, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Entry{Actor: "b", Action: "y", Target: "t", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(time.Time{}, 10)
	if err != nil || len(got) != 2 || got[0].Actor != "a" || got[1].Actor != "b" {
		t.Fatalf("tail Read = %+v, %v; want a's and b's entries only", got, err)
	}
}

// TestEachLineReverse checks the backward reader on lines that straddle
// its 64 KiB reads.
func TestEachLineReverse(t *testing.T) {
	var lines []string
	var b strings.Builder
	for i := range 300 {
		l := fmt.Sprintf("%d:%s", i, strings.Repeat("y", (i*997)%3000))
		lines = append(lines, l)
		b.WriteString(l + "\n")
	}
	s := b.String()
	var got []string
	err := eachLineReverse(strings.NewReader(s), int64(len(s)), func(line []byte) bool {
		got = append(got, string(line))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(lines) {
		t.Fatalf("got %d lines, want %d", len(got), len(lines))
	}
	for i := range lines {
		if got[len(got)-1-i] != lines[i] {
			t.Fatalf("line %d differs", i)
		}
	}
}
