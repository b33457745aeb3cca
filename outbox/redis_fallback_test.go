package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/testenv"
	"github.com/holdline/holdline/outbox"
	"github.com/holdline/holdline/outbox/storetest"
)

// TestFallbackStore runs the contract suite through a FallbackStore while
// Redis is up: it must behave exactly as the RedisStore under it. Redis
// being up is the premise, so the Timeout that detects an outage is set
// far above any stall of a loaded test machine: with the 500ms default, a
// burst of 100 concurrent enqueues under -race sometimes timed out, and
// the timed-out ones were (as documented) accepted locally, as second jobs
// for an idempotency key that Forward only merges later.
func TestFallbackStore(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redisClient(t, srv.Addr)
	storetest.Run(t, func(t *testing.T) outbox.Store {
		remote := openRedis(t, rdb, outbox.RedisOptions{Prefix: newPrefix(t)})
		local := openBolt(t, filepath.Join(t.TempDir(), "fallback.db"))
		return outbox.NewFallback(remote, local, outbox.FallbackOptions{Timeout: time.Minute})
	})
}

// TestFallbackRedisDown cuts the connection to Redis (a fault proxy
// between the store and the server) while jobs are enqueued: they are
// accepted locally, and forwarded when Redis returns, in order per
// interaction, once each, with their idempotency keys.
func TestFallbackRedisDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	px := testenv.FaultProxy(t, srv.Addr)
	rdb := redisClient(t, px.Addr())
	remote := openRedis(t, rdb, outbox.RedisOptions{Prefix: newPrefix(t)})
	local := openBolt(t, filepath.Join(t.TempDir(), "fallback.db"))
	fb := outbox.NewFallback(remote, local, outbox.FallbackOptions{Timeout: 200 * time.Millisecond, RetryInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- fb.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	enqueue := func(iid string, seq int, key bool) outbox.Job {
		t.Helper()
		j := outbox.Job{Kind: "crm.add_comment", InteractionID: iid, Payload: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, seq))}
		if key {
			j.IdempotencyKey = fmt.Sprintf("%s/%d", iid, seq)
		}
		// A hang guard, not a speed claim: with Redis refusing
		// connections, Enqueue must fall back to the local store rather
		// than wait for Redis. How fast it does is the bench harness's
		// business.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		got, created, err := fb.Enqueue(ctx, j)
		if err != nil || !created {
			t.Fatalf("Enqueue(%s #%d) = created %v, %v", iid, seq, created, err)
		}
		return got
	}
	// Redis up: a0, a1 go to Redis.
	enqueue("a", 0, true)
	enqueue("a", 1, true)
	// Redis down: a2, a3, b0..b2 and a keyless c0 are kept locally.
	px.Disable()
	enqueue("a", 2, true)
	enqueue("a", 3, true)
	for seq := range 3 {
		enqueue("b", seq, true)
	}
	enqueue("c", 0, false)
	// (Inflight ones are being tried by the forwarder.)
	if st, err := local.Stats(t.Context()); err != nil || st.Pending+st.Inflight != 6 {
		t.Fatalf("local Stats while redis is down = %+v, %v; want 6 pending or inflight", st, err)
	}
	// An idempotent retry while Redis is down is the local job.
	if _, created, err := fb.Enqueue(t.Context(), outbox.Job{Kind: "crm.add_comment", InteractionID: "b", IdempotencyKey: "b/1"}); err != nil || created {
		t.Errorf("Enqueue(b/1 again) = created %v, %v; want the existing job", created, err)
	}
	px.Enable()
	// Redis is back; b3 waits behind b's local jobs, wherever it goes.
	enqueue("b", 3, true)

	var st outbox.Stats
	waitFor(t, 20*time.Second, "every local job forwarded to Redis", func() bool {
		var err error
		if st, err = local.Stats(t.Context()); err != nil {
			t.Fatal(err)
		}
		return st == (outbox.Stats{})
	})
	for iid, n := range map[string]int{"a": 4, "b": 4, "c": 1} {
		jobs, err := remote.Interaction(t.Context(), iid)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int
		for _, j := range jobs {
			var p struct{ Seq int }
			json.Unmarshal(j.Payload, &p)
			seqs = append(seqs, p.Seq)
		}
		if len(seqs) != n {
			t.Errorf("redis holds %s seqs %v, want %d jobs", iid, seqs, n)
			continue
		}
		for i, s := range seqs {
			if s != i {
				t.Errorf("redis holds %s in order %v, want 0..%d", iid, seqs, n-1)
				break
			}
		}
	}
	// Forwarded keys are Redis's now: a retry is deduplicated there.
	if _, created, err := fb.Enqueue(t.Context(), outbox.Job{Kind: "crm.add_comment", InteractionID: "a", IdempotencyKey: "a/2"}); err != nil || created {
		t.Errorf("Enqueue(a/2 again) = created %v, %v; want the existing job", created, err)
	}
	if err := remote.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := local.Check(); err != nil {
		t.Errorf("local Check: %v", err)
	}
}
