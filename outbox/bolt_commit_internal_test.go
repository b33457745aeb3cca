package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// queued holds the group commit's loop inside a write until n more writes
// are queued behind it, so that they all ride the next commit; it returns
// the function that lets the loop go on.
func queued(t *testing.T, s *BoltStore, n int) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.batch(context.Background(), func(btx) error {
			select {
			case <-entered:
			default:
				close(entered)
			}
			<-gate
			return nil
		})
	}()
	<-entered
	return func() {
		waitQueued(t, s, n)
		close(gate)
	}
}

func waitQueued(t *testing.T, s *BoltStore, n int) {
	t.Helper()
	for {
		s.qmu.Lock()
		got := len(s.queue)
		s.qmu.Unlock()
		if got >= n {
			return
		}
		// The producers are goroutines of this test: they reach the queue
		// without any I/O, so yielding is enough to let them.
		runtime.Gosched()
	}
}

// TestGroupCommitOneWriteFails queues 20 enqueues and one write that
// fails after writing into the same commit: the failing write gets its
// own error and leaves nothing, every enqueue is stored and acknowledged.
func TestGroupCommitOneWriteFails(t *testing.T) {
	t.Parallel()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := queued(t, s, 21)

	boom := errors.New("boom")
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Go(func() {
			j, created, err := s.Enqueue(t.Context(), Job{Kind: "k", InteractionID: fmt.Sprint("call-", i%4), IdempotencyKey: fmt.Sprint("key-", i)})
			if err != nil || !created {
				t.Errorf("Enqueue %d = created %v, %v", i, created, err)
			}
			ids[i] = j.ID
		})
	}
	var failErr error
	wg.Go(func() {
		failErr = s.batch(t.Context(), func(b btx) error {
			if err := b.metadata.Put([]byte("stray"), []byte("x")); err != nil {
				return err
			}
			return boom
		})
	})
	release()
	wg.Wait()

	if !errors.Is(failErr, boom) {
		t.Errorf("failing write returned %v, want boom", failErr)
	}
	for i, id := range ids {
		if j, err := s.Get(t.Context(), id); err != nil || j.IdempotencyKey != fmt.Sprint("key-", i) {
			t.Errorf("job %d (%s) after the commit = %+v, %v", i, id, j, err)
		}
	}
	if err := s.view(t.Context(), func(b btx) error {
		if v := b.metadata.Get([]byte("stray")); v != nil {
			return fmt.Errorf("the failed write's key is stored: %q", v)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if st, err := s.Stats(t.Context()); err != nil || st.Pending != 20 {
		t.Errorf("Stats = %+v, %v; want 20 pending", st, err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestGroupCommitSharesOneCommit checks that writes queued while a commit
// is busy go out together in the next one, and that one idempotency key
// queued 10 times in that commit makes one job.
func TestGroupCommitSharesOneCommit(t *testing.T) {
	t.Parallel()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := queued(t, s, 30)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]int{}
	created := 0
	for i := range 30 {
		wg.Go(func() {
			key := fmt.Sprint("key-", i)
			if i < 10 {
				key = "same"
			}
			j, c, err := s.Enqueue(t.Context(), Job{Kind: "k", InteractionID: "call-1", IdempotencyKey: key})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[j.ID]++
			if c {
				created++
			}
		})
	}
	c0, n0 := s.BatchStats()
	release()
	wg.Wait()
	c1, n1 := s.BatchStats()
	// The held write's own commit plus one for the 30 queued behind it.
	if c1-c0 != 2 || n1-n0 != 31 {
		t.Errorf("BatchStats moved by %d commits, %d writes; want 2 commits, 31 writes", c1-c0, n1-n0)
	}
	if created != 21 || len(ids) != 21 {
		t.Errorf("created %d jobs, %d distinct ids; want 21 and 21", created, len(ids))
	}
	jobs, err := s.Interaction(t.Context(), "call-1")
	if err != nil || len(jobs) != 21 {
		t.Fatalf("Interaction = %d jobs, %v; want 21", len(jobs), err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestGroupCommitPanic hands a write's panic to its caller; the others in
// its commit are stored.
func TestGroupCommitPanic(t *testing.T) {
	t.Parallel()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := queued(t, s, 6)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, _, err := s.Enqueue(t.Context(), Job{Kind: "k", IdempotencyKey: fmt.Sprint("key-", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	var got any
	wg.Go(func() {
		defer func() { got = recover() }()
		_ = s.batch(t.Context(), func(btx) error { panic("write panicked") })
	})
	release()
	wg.Wait()
	if got != "write panicked" {
		t.Errorf("recovered %v, want the write's panic", got)
	}
	if st, err := s.Stats(t.Context()); err != nil || st.Pending != 5 {
		t.Errorf("Stats = %+v, %v; want 5 pending", st, err)
	}
}

// TestGroupCommitClose: writes queued before Close are committed, writes
// after it get ErrClosed.
func TestGroupCommitClose(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	release := queued(t, s, 8)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, _, err := s.Enqueue(t.Context(), Job{Kind: "k", IdempotencyKey: fmt.Sprint("key-", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, 8)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for { // Close has begun: it waits for the queued writes
		s.qmu.Lock()
		c := s.closing
		s.qmu.Unlock()
		if c {
			break
		}
		runtime.Gosched()
	}
	release()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Enqueue(t.Context(), Job{Kind: "k"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	s, err = OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, err := s.Stats(t.Context()); err != nil || st.Pending != 8 {
		t.Errorf("Stats after reopen = %+v, %v; want 8 pending", st, err)
	}
}
