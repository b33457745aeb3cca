package outbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/outbox"
)

const crashChildEnv = "HOLDLINE_OUTBOX_CRASH_CHILD"

// TestKill9 runs a child process (this test binary) that enqueues jobs,
// claims some and is killed with SIGKILL while they are inflight. While
// the child lives, opening the store gives ErrLocked (the CLI's offline
// mode relies on it); after the kill the store opens, is consistent, and a
// Dispatcher runs every job once more, in order per interaction.
func TestKill9(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	// The child blocks reading its stdin until it is killed; the pipe also
	// ends it if this test dies first.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}

	if _, err := outbox.OpenBolt(path, outbox.BoltOptions{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, outbox.ErrLocked) {
		t.Errorf("OpenBolt while the child holds the store: %v, want ErrLocked", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s := openBolt(t, path)
	if err := s.Check(); err != nil {
		t.Fatalf("Check after kill -9: %v", err)
	}
	st, err := s.Stats(t.Context())
	if err != nil || st.Inflight != 3 || st.Pending != 27 {
		t.Fatalf("Stats after kill -9 = %+v, %v; want 3 inflight, 27 pending", st, err)
	}

	var mu sync.Mutex
	ran := map[string][]string{}
	h := start(t, s, map[string]outbox.Handler{
		"k": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
			mu.Lock()
			defer mu.Unlock()
			ran[j.InteractionID] = append(ran[j.InteractionID], j.ID)
			return nil, nil
		},
	}, outbox.DispatcherConfig{PollInterval: 10 * time.Millisecond})
	waitFor(t, 30*time.Second, "30 jobs done after the restart", func() bool {
		st, err := h.store.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st.Done == 30
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range 3 {
		id := fmt.Sprint("call-", i)
		jobs, err := s.Interaction(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, j := range jobs {
			want = append(want, j.ID)
		}
		if diff := cmp.Diff(want, ran[id]); diff != "" {
			t.Errorf("%s ran (-want +got):\n%s", id, diff)
		}
	}
}

// crashChild enqueues 30 jobs over 3 interactions, claims the 3 heads and
// waits to be killed: it reads its stdin, which the parent never writes
// to.
func crashChild(path string) {
	s, err := outbox.OpenBolt(path, outbox.BoltOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := range 30 {
		if _, _, err := s.Enqueue(ctx, outbox.Job{Kind: "k", InteractionID: fmt.Sprint("call-", i%3)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if jobs, err := s.Claim(ctx, time.Now(), 10, nil); err != nil || len(jobs) != 3 {
		fmt.Fprintln(os.Stderr, "claim:", len(jobs), err)
		os.Exit(2)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3) // the parent closed the pipe without killing the child
}

const enqueueChildEnv = "HOLDLINE_OUTBOX_ENQUEUE_CHILD"

// TestKill9MidEnqueue kills a child process while 16 producers enqueue
// through the group commit. The child prints each job's id and key only
// after Enqueue returned it (the acknowledgement a 202 stands for); every
// acknowledged job must be in the store after the kill, with its key, and
// the store consistent.
func TestKill9MidEnqueue(t *testing.T) {
	if path := os.Getenv(enqueueChildEnv); path != "" {
		enqueueChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKill9MidEnqueue$")
	cmd.Env = append(os.Environ(), enqueueChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]string{} // id -> idempotency key
	r := bufio.NewReader(out)
	killed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // EOF: the child is gone and the pipe drained
		}
		id, key, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue // a partial line cut by the kill is no acknowledgement
		}
		acked[id] = key
		if len(acked) == 400 && !killed {
			// Mid-stream: producers are queued and a commit is on its way.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("the child stopped after %d acknowledgements, before the kill", len(acked))
	}

	s := openBolt(t, path)
	if err := s.Check(); err != nil {
		t.Fatalf("Check after kill -9: %v", err)
	}
	for id, key := range acked {
		j, err := s.Get(t.Context(), id)
		if err != nil || j.IdempotencyKey != key {
			t.Errorf("acknowledged job %s (%s) after kill -9 = %+v, %v", id, key, j, err)
		}
	}
	st, err := s.Stats(t.Context())
	if err != nil || st.Pending < len(acked) {
		t.Errorf("Stats = %+v, %v; want at least the %d acknowledged jobs pending", st, err, len(acked))
	}
	// The keys still hold: enqueueing an acknowledged key again creates
	// nothing.
	n := 0
	for id, key := range acked {
		if n++; n > 50 {
			break
		}
		j, created, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", IdempotencyKey: key})
		if err != nil || created || j.ID != id {
			t.Errorf("Enqueue(%s) again = %s, created %v, %v; want %s", key, j.ID, created, err, id)
		}
	}
}

// enqueueChild enqueues from 16 goroutines until it is killed, printing
// "id key" for each job Enqueue returned.
func enqueueChild(path string) {
	s, err := outbox.OpenBolt(path, outbox.BoltOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("p%d-%d", p, i)
				j, _, err := s.Enqueue(context.Background(), outbox.Job{Kind: "k", InteractionID: fmt.Sprint("call-", i%5), IdempotencyKey: key})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s %s\n", j.ID, key)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
