package outbox_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/testenv"
	"github.com/holdline/holdline/outbox"
)

// TestFallbackInteractionRedisDown: with Redis unreachable, Interaction
// answers with the local jobs and ErrPartial instead of failing, and once
// Redis is back it answers with Redis's jobs followed by the local ones
// not yet forwarded, each once.
func TestFallbackInteractionRedisDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	px := testenv.FaultProxy(t, srv.Addr)
	remote := openRedis(t, redisClient(t, px.Addr()), outbox.RedisOptions{Prefix: newPrefix(t)})
	local := openBolt(t, filepath.Join(t.TempDir(), "fallback.db"))
	fb := outbox.NewFallback(remote, local, outbox.FallbackOptions{Timeout: 200 * time.Millisecond})

	before, _, err := fb.Enqueue(t.Context(), outbox.Job{Kind: "crm.create_record", InteractionID: "i", IdempotencyKey: "record:i"})
	if err != nil {
		t.Fatal(err)
	}
	px.Disable()
	during, _, err := fb.Enqueue(t.Context(), outbox.Job{Kind: "crm.add_comment", InteractionID: "i", IdempotencyKey: "comment:i"})
	if err != nil {
		t.Fatalf("Enqueue with Redis down: %v", err)
	}
	jobs, err := fb.Interaction(t.Context(), "i")
	if !errors.Is(err, outbox.ErrPartial) || len(jobs) != 1 || jobs[0].ID != during.ID {
		t.Fatalf("Interaction with Redis down = %d jobs, %v; want the local job and ErrPartial", len(jobs), err)
	}
	px.Enable()
	// The first calls after Redis returns may still time out while the
	// client reconnects on a busy machine: wait until Redis answers.
	waitFor(t, 30*time.Second, "Interaction to answer from Redis again", func() bool {
		jobs, err = fb.Interaction(t.Context(), "i")
		return err == nil
	})
	if err != nil || len(jobs) != 2 || jobs[0].ID != before.ID || jobs[1].ID != during.ID {
		t.Fatalf("Interaction with Redis back = %+v, %v; want the Redis job, then the local one", jobs, err)
	}
}
