package outbox_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/outbox"
	"github.com/holdline/holdline/outbox/storetest"
)

func openBolt(t testing.TB, path string) *outbox.BoltStore {
	t.Helper()
	s, err := outbox.OpenBolt(path, outbox.BoltOptions{})
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBoltStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) outbox.Store {
		return openBolt(t, filepath.Join(t.TempDir(), "outbox.db"))
	})
}

func TestOpenBoltLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	openBolt(t, path)
	// Without LockTimeout bbolt waits for the lock forever: that the second
	// open returns at all shows the timeout applies. The 30s guard only
	// turns such a hang into a failure; it is no claim about speed.
	errc := make(chan error, 1)
	go func() {
		_, err := outbox.OpenBolt(path, outbox.BoltOptions{LockTimeout: 100 * time.Millisecond})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, outbox.ErrLocked) {
			t.Fatalf("second OpenBolt error = %v, want ErrLocked", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second OpenBolt still waits for the lock after 30s, want ErrLocked after the 100ms lock timeout")
	}
}

func TestBoltClosed(t *testing.T) {
	t.Parallel()
	s, err := outbox.OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k"}); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Enqueue after Close error = %v, want ErrClosed", err)
	}
	if _, err := s.Stats(t.Context()); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Stats after Close error = %v, want ErrClosed", err)
	}
}

// TestBoltReopen checks that jobs, indexes and idempotency keys survive a
// close and reopen, and that an inflight job left by a dead worker is
// recovered.
func TestBoltReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := outbox.OpenBolt(path, outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", InteractionID: "a", IdempotencyKey: "once"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(t.Context(), time.Now(), 1, nil); err != nil {
		t.Fatal(err)
	}
	s.Close() // the worker "dies" with the job inflight

	s = openBolt(t, path)
	if err := s.Check(); err != nil {
		t.Fatalf("Check after reopen: %v", err)
	}
	if got, created, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", IdempotencyKey: "once"}); err != nil || created || got.ID != j.ID {
		t.Errorf("Enqueue(same key) after reopen = %s, created %v, %v; want %s", got.ID, created, err, j.ID)
	}
	if n, err := s.RecoverInflight(t.Context()); err != nil || n != 1 {
		t.Fatalf("RecoverInflight = %d, %v, want 1", n, err)
	}
	got, err := s.Claim(t.Context(), time.Now(), 1, nil)
	if err != nil || len(got) != 1 || got[0].ID != j.ID {
		t.Fatalf("Claim after recovery = %v, %v, want %s", got, err, j.ID)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestBoltBatchMetric(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	reg := prometheus.NewRegistry()
	for round := range 2 { // Close unregisters, so a reopen can register again
		s, err := outbox.OpenBolt(path, outbox.BoltOptions{Registerer: reg})
		if err != nil {
			t.Fatalf("round %d: OpenBolt: %v", round, err)
		}
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				if _, _, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k"}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		commits, calls := s.BatchStats()
		if calls != 32 || commits < 1 || commits > 32 {
			t.Errorf("BatchStats = %d commits, %d calls; want 32 calls in 1-32 commits", commits, calls)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, mf := range mfs {
			if mf.GetName() == "holdline_outbox_batch_size" {
				n = mf.GetMetric()[0].GetHistogram().GetSampleCount()
			}
		}
		if n != commits {
			t.Errorf("batch_size observations = %d, want %d commits", n, commits)
		}
		s.Close()
	}
}
