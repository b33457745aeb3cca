package outbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/testenv"
	"github.com/holdline/holdline/outbox"
)

// fleetCRM is the CRM the fleet's handlers write to: it fails while down
// and records every side effect by idempotency key, with the sidecar that
// made it and the order per interaction.
type fleetCRM struct {
	up      atomic.Bool
	mu      sync.Mutex
	effects map[string][]string // idempotency key -> sidecars that wrote it
	order   map[string][]int    // interaction -> seq of each write
	failed  map[string]int      // sidecar -> calls refused while down
}

func newFleetCRM() *fleetCRM {
	return &fleetCRM{effects: map[string][]string{}, order: map[string][]int{}, failed: map[string]int{}}
}

// failures returns how many calls sidecar name made while the CRM was down.
func (c *fleetCRM) failures(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed[name]
}

// handler is sidecar name's handler for kind "crm.add_comment".
func (c *fleetCRM) handler(name string) outbox.Handler {
	return func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
		if !c.up.Load() {
			c.mu.Lock()
			c.failed[name]++
			c.mu.Unlock()
			return nil, errors.New("crm: 503 service unavailable")
		}
		var p struct{ Seq int }
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return nil, outbox.Permanent(err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.effects[j.IdempotencyKey] = append(c.effects[j.IdempotencyKey], name)
		c.order[j.InteractionID] = append(c.order[j.InteractionID], p.Seq)
		return json.RawMessage(`{"ok":true}`), nil
	}
}

// check wants every interaction's writes exactly once and in order.
func (c *fleetCRM) check(t *testing.T, jobsPer map[string]int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, by := range c.effects {
		if len(by) != 1 {
			t.Errorf("%s written %d times (by %v), want once", key, len(by), by)
		}
	}
	for iid, n := range jobsPer {
		got := c.order[iid]
		ok := len(got) == n
		for i := 0; ok && i < n; i++ {
			ok = got[i] == i
		}
		if !ok {
			t.Errorf("interaction %s wrote seqs %v, want 0..%d in order", iid, got, n-1)
		}
	}
}

// sidecar is one fleet member: a RedisStore on its own client (its own
// connections, as a separate process would have) with its own Dispatcher.
type sidecar struct {
	name   string
	rdb    *redis.Client
	store  *outbox.RedisStore
	d      *outbox.Dispatcher
	cancel context.CancelFunc
	done   chan error
}

var fleetStore = outbox.RedisOptions{ClaimIdle: time.Second, Heartbeat: 200 * time.Millisecond}

var fleetDispatch = outbox.DispatcherConfig{
	Workers:      4,
	PollInterval: 20 * time.Millisecond,
	Backoff:      config.Backoff{Initial: config.Duration(10 * time.Millisecond), Max: config.Duration(100 * time.Millisecond)},
}

func startSidecar(t *testing.T, addr, prefix, name string, h outbox.Handler) *sidecar {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	opts := fleetStore
	opts.Prefix, opts.Consumer = prefix, name
	store, err := outbox.OpenRedis(t.Context(), rdb, opts)
	if err != nil {
		t.Fatalf("%s: OpenRedis: %v", name, err)
	}
	d, err := outbox.NewDispatcher(store, map[string]outbox.Handler{"crm.add_comment": h}, nil, fleetDispatch)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &sidecar{name: name, rdb: rdb, store: store, d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { sc.done <- d.Run(ctx) }()
	t.Cleanup(sc.stop)
	return sc
}

// stop shuts the sidecar down cleanly (idempotent).
func (sc *sidecar) stop() {
	if sc.cancel == nil {
		return
	}
	sc.cancel()
	<-sc.done
	sc.store.Close()
	sc.rdb.Close()
	sc.cancel = nil
}

// abandon stops the sidecar as a crash would: its connections go first,
// so nothing it holds is completed, failed or heartbeated again.
func (sc *sidecar) abandon() {
	sc.rdb.Close()
	sc.stop()
}

func comment(iid string, seq int) outbox.Job {
	return outbox.Job{
		Kind: "crm.add_comment", Dependency: "crm", InteractionID: iid,
		IdempotencyKey: fmt.Sprintf("%s/comment-%d", iid, seq),
		Payload:        json.RawMessage(fmt.Sprintf(`{"seq":%d}`, seq)),
	}
}

// waitDone polls s until want jobs are done.
func waitDone(t *testing.T, s outbox.Store, want int) {
	t.Helper()
	var st outbox.Stats
	waitFor(t, 60*time.Second, fmt.Sprintf("%d jobs done", want), func() bool {
		var err error
		if st, err = s.Stats(t.Context()); err != nil {
			t.Fatal(err)
		}
		return st.Done == want
	})
	if st != (outbox.Stats{Done: want}) {
		t.Errorf("Stats = %+v, want only %d done", st, want)
	}
}

// TestRedisFleet runs three sidecars on one persisting redis-server. Jobs
// of each interaction are enqueued through all three in turn while the CRM
// fails; then sidecar c stops abruptly while it holds runs (a hung CRM
// call); once the CRM recovers, every write happens exactly once, in
// order per interaction, and c's runs are finished by a and b.
func TestRedisFleet(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	prefix := newPrefix(t)
	crm := newFleetCRM()

	var held sync.Map // job id -> true, runs c held when it died
	var holding atomic.Int32
	hang := make(chan struct{})
	cHandler := crm.handler("c")
	cHang := atomic.Bool{}
	a := startSidecar(t, srv.Addr, prefix, "a", crm.handler("a"))
	b := startSidecar(t, srv.Addr, prefix, "b", crm.handler("b"))
	c := startSidecar(t, srv.Addr, prefix, "c", func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
		if !cHang.Load() {
			return cHandler(ctx, j)
		}
		held.Store(j.ID, true)
		holding.Add(1)
		select { // a CRM call that never answers
		case <-hang:
		case <-ctx.Done():
		}
		return nil, errors.New("crm: no answer")
	})
	fleet := []*sidecar{a, b, c}

	const interactions, perInteraction = 12, 5
	jobsPer := map[string]int{}
	var wg sync.WaitGroup
	for i := range interactions {
		iid := fmt.Sprint("call-", i)
		jobsPer[iid] = perInteraction
		wg.Go(func() {
			for seq := range perInteraction {
				via := fleet[(i+seq)%3]
				if _, created, err := via.d.Enqueue(t.Context(), comment(iid, seq)); err != nil || !created {
					t.Errorf("%s: Enqueue(%s #%d) = created %v, %v", via.name, iid, seq, created, err)
				}
				// A replay of the same write through another sidecar is
				// the same job.
				again := fleet[(i+seq+1)%3]
				if _, created, err := again.d.Enqueue(t.Context(), comment(iid, seq)); err != nil || created {
					t.Errorf("%s: Enqueue(%s #%d) again = created %v, %v; want the existing job", again.name, iid, seq, created, err)
				}
			}
		})
	}
	wg.Wait()
	// Failures spend attempts on all three before c starts to hang.
	for _, sc := range fleet {
		waitFor(t, 20*time.Second, sc.name+" to fail CRM calls", func() bool { return crm.failures(sc.name) >= 3 })
	}

	cHang.Store(true)
	waitFor(t, 20*time.Second, "c to hold 3 runs", func() bool { return holding.Load() >= 3 })
	c.abandon()
	close(hang)
	crm.up.Store(true)

	waitDone(t, a.store, interactions*perInteraction)
	crm.check(t, jobsPer)
	n := 0
	held.Range(func(k, _ any) bool {
		n++
		j, err := a.store.Get(t.Context(), k.(string))
		if err != nil || j.State != outbox.Done {
			t.Errorf("job %s held by c: %s, %v; want done", k, j.State, err)
		}
		crm.mu.Lock()
		by := crm.effects[j.IdempotencyKey]
		crm.mu.Unlock()
		if len(by) != 1 || by[0] == "c" {
			t.Errorf("job %s held by c was written by %v, want a or b", k, by)
		}
		return true
	})
	if n < 3 {
		t.Errorf("c held %d runs, want at least 3", n)
	}
	if err := a.store.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestRedisFencing checks that a run taken back from a stalled owner can
// no longer be completed by it, and that a live owner's runs are not
// taken by a restarting peer.
func TestRedisFencing(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redisClient(t, srv.Addr)
	prefix := newPrefix(t)
	// The heartbeat comes 20 times per ClaimIdle: the owner keeps its run
	// unless it gets no CPU for most of a second, which a loaded CI machine
	// did do to a 300ms ClaimIdle.
	live := openRedis(t, rdb, outbox.RedisOptions{Prefix: prefix, ClaimIdle: time.Second, Heartbeat: 50 * time.Millisecond})
	peer := openRedis(t, rdb, outbox.RedisOptions{Prefix: prefix, ClaimIdle: time.Second, Heartbeat: 50 * time.Millisecond})
	j, _, err := live.Enqueue(t.Context(), outbox.Job{Kind: "k", InteractionID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := live.Claim(t.Context(), time.Now(), 1, nil); err != nil || len(got) != 1 {
		t.Fatalf("Claim = %v, %v", got, err)
	}
	// Wall time on purpose: the lease is the entry's idle time on the
	// redis-server's own clock, which no fake clock reaches. Past ClaimIdle
	// the run would be taken back; the heartbeat must keep it all along.
	time.Sleep(1500 * time.Millisecond)
	if n, err := peer.RecoverInflight(t.Context()); err != nil || n != 0 {
		t.Errorf("peer RecoverInflight while the owner lives = %d, %v, want 0", n, err)
	}
	if err := live.Complete(t.Context(), j.ID, nil); err != nil {
		t.Fatalf("owner Complete after 1.5 ClaimIdle: %v", err)
	}

	// A stalled owner: a long ClaimIdle means a slow heartbeat, so a peer
	// with a short ClaimIdle sees its run idle and takes the job back.
	stalled := openRedis(t, rdb, outbox.RedisOptions{Prefix: prefix, ClaimIdle: time.Hour})
	reaper := openRedis(t, rdb, outbox.RedisOptions{Prefix: prefix, ClaimIdle: 100 * time.Millisecond, Heartbeat: 20 * time.Millisecond})
	j2, _, err := stalled.Enqueue(t.Context(), outbox.Job{Kind: "k", InteractionID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := stalled.Claim(t.Context(), time.Now(), 1, nil); err != nil || len(got) != 1 {
		t.Fatalf("Claim = %v, %v", got, err)
	}
	var got []outbox.Job
	waitFor(t, 10*time.Second, "the reaper to take the stalled run back", func() bool {
		if got, err = reaper.Claim(t.Context(), time.Now(), 1, nil); err != nil {
			t.Fatal(err)
		}
		return len(got) > 0
	})
	if len(got) != 1 || got[0].ID != j2.ID || got[0].Attempts != 0 {
		t.Fatalf("reaper Claim = %v, want %s with 0 attempts", got, j2.ID)
	}
	if err := stalled.Complete(t.Context(), j2.ID, nil); !errors.Is(err, outbox.ErrNotInflight) {
		t.Errorf("stalled owner's Complete = %v, want ErrNotInflight (fenced)", err)
	}
	if err := stalled.Fail(t.Context(), j2.ID, outbox.Failure{Err: "late"}); !errors.Is(err, outbox.ErrNotInflight) {
		t.Errorf("stalled owner's Fail = %v, want ErrNotInflight (fenced)", err)
	}
	if err := reaper.Complete(t.Context(), j2.ID, nil); err != nil {
		t.Errorf("new owner's Complete: %v", err)
	}
	if err := reaper.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

const fleetChildEnv = "HOLDLINE_OUTBOX_FLEET_CHILD"

// TestRedisFleetKill9 is TestRedisFleet with a real process: a child (this
// test binary) enqueues its own interactions, claims their heads with a
// handler that hangs, and is killed with SIGKILL; the two sidecars left
// finish everything exactly once and in order.
func TestRedisFleetKill9(t *testing.T) {
	if env := os.Getenv(fleetChildEnv); env != "" {
		fleetChild(env)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	prefix := newPrefix(t)
	crm := newFleetCRM()
	a := startSidecar(t, srv.Addr, prefix, "a", crm.handler("a"))
	b := startSidecar(t, srv.Addr, prefix, "b", crm.handler("b"))

	jobsPer := map[string]int{}
	for i := range 6 {
		iid := fmt.Sprint("call-", i)
		jobsPer[iid] = 4
		for seq := range 4 {
			via := []*sidecar{a, b}[(i+seq)%2]
			if _, _, err := via.d.Enqueue(t.Context(), comment(iid, seq)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRedisFleetKill9$")
	cmd.Env = append(os.Environ(), fleetChildEnv+"="+srv.Addr+" "+prefix)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "holding ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	held := strings.Fields(strings.TrimPrefix(line, "holding "))
	for i := range 4 {
		jobsPer[fmt.Sprint("child-call-", i)] = 5
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	crm.up.Store(true)

	waitDone(t, a.store, 6*4+4*5)
	crm.check(t, jobsPer)
	if len(held) != 4 {
		t.Errorf("child held %v, want 4 runs", held)
	}
	for _, id := range held {
		j, err := a.store.Get(t.Context(), id)
		if err != nil || j.State != outbox.Done {
			t.Errorf("job %s held by the killed child: %s, %v; want done", id, j.State, err)
		}
		crm.mu.Lock()
		if by := crm.effects[j.IdempotencyKey]; len(by) != 1 {
			t.Errorf("job %s held by the killed child was written by %v, want a or b once", id, by)
		}
		crm.mu.Unlock()
	}
	if err := a.store.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// fleetChild enqueues 4 interactions of 5 comments, runs a dispatcher
// whose CRM calls hang, prints the ids it holds once it holds 4 runs, and
// waits to be killed.
func fleetChild(env string) {
	addr, prefix, _ := strings.Cut(env, " ")
	die := func(err error) {
		fmt.Fprintln(os.Stderr, "fleet child:", err)
		os.Exit(2)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	opts := fleetStore
	opts.Prefix = prefix
	ctx := context.Background()
	store, err := outbox.OpenRedis(ctx, rdb, opts)
	if err != nil {
		die(err)
	}
	var mu sync.Mutex
	var held []string
	d, err := outbox.NewDispatcher(store, map[string]outbox.Handler{
		"crm.add_comment": func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
			mu.Lock()
			held = append(held, j.ID)
			if len(held) == 4 {
				fmt.Println("holding", strings.Join(held, " "))
			}
			mu.Unlock()
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}, nil, fleetDispatch)
	if err != nil {
		die(err)
	}
	for i := range 4 {
		for seq := range 5 {
			if _, _, err := d.Enqueue(ctx, comment(fmt.Sprint("child-call-", i), seq)); err != nil {
				die(err)
			}
		}
	}
	if err := d.Run(ctx); err != nil {
		die(err)
	}
}
