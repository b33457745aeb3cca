package sidecar

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/testenv"
	"github.com/holdline/holdline/outbox"
)

// TestNewFailingLateClosesEverything: when a late step of New fails (the
// recording store, built after the simulators, the audit log, the outbox
// and its file lock, the spool, Redis, Dialogflow and identity), New
// closes everything it opened: the outbox file lock is free, no file or
// socket New opened is still open, and Redis has no client of ours left.
//
// Not parallel: it compares this process's open file descriptors before
// and after New, so no other test may open or close any meanwhile.
func TestNewFailingLateClosesEverything(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd to list open file descriptors:", err)
	}
	r := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	cfg.Outbox.Backend, cfg.Outbox.Redis = "redis", config.Redis{Addr: r.Addr}
	cfg.Recordings.Store, cfg.Recordings.Dir = "dir", filepath.Join(blocker, "recordings")

	before := openFDs(t)
	sc, err := New(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler), Dev: true})
	if err == nil {
		sc.Stop()
		t.Fatal("New with recordings.dir under a regular file succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "recordings.dir") {
		t.Fatalf("New = %v, want the recordings.dir error", err)
	}

	// The outbox's file lock is free: another open takes it at once.
	b, err := outbox.OpenBolt(filepath.Join(dataDir, "outbox.db"), outbox.BoltOptions{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("outbox.db after a failed New: %v, want its lock released", err)
	}
	b.Close()

	// Closing is synchronous, but the kernel may take a moment to drop a
	// peer's socket: poll, bounded by hangGuard.
	deadline := time.Now().Add(hangGuard)
	for {
		leaked := slices.DeleteFunc(openFDs(t), func(fd string) bool { return slices.Contains(before, fd) })
		clients, err := rdb.ClientList(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(strings.TrimSpace(clients), "\n") + 1
		if len(leaked) == 0 && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a failed New: %d file descriptors still open that New opened %v; Redis has %d clients, want only the test's:\n%s", len(leaked), leaked, n, clients)
		}
		time.Sleep(20 * time.Millisecond) // polling an external state, not synchronising
	}
}

// openFDs lists this process's open file descriptors as "fd -> target",
// leaving out the directory listing itself.
func openFDs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || strings.HasPrefix(target, "/proc/") {
			continue // the listing's own descriptor, closed meanwhile
		}
		out = append(out, e.Name()+" -> "+target)
	}
	return out
}
