package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// A run (a claimed job) is leased to the consumer whose pending entries
// list holds its stream entry. The lease is the entry's idle time: the
// owner resets it every Heartbeat (XCLAIM to itself), and any store takes
// over entries idle for ClaimIdle (XAUTOCLAIM) and makes their jobs
// pending, in one script. The entry ID is the run's fencing token: the
// job hash records it, and Complete and Fail are refused unless the token
// they bring still matches.

// consumerName is hostname-pid-random: unique per process, and new after
// a restart, so that a restarted sidecar never inherits (and never
// heartbeats) the runs of its previous life.
func consumerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// maintain heartbeats this store's runs and reaps the runs of dead
// consumers until ctx is done. Every 100 beats it also forgets consumers
// that hold nothing and have been idle for 100 ClaimIdle.
func (s *RedisStore) maintain(ctx context.Context) {
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for beat := 1; ; beat++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.heartbeat(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("outbox: redis heartbeat", "error", err)
		}
		if n, err := s.reap(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("outbox: redis reap", "error", err)
		} else if n > 0 {
			s.log.Info("outbox: took back jobs of a dead sidecar", "jobs", n)
		}
		if beat%100 == 0 {
			if err := s.forgetConsumers(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("outbox: redis forget idle consumers", "error", err)
			}
		}
	}
}

// heartbeat resets the idle time of this store's runs.
func (s *RedisStore) heartbeat(ctx context.Context) error {
	s.tokMu.Lock()
	toks := make([]string, 0, len(s.tokens))
	for _, t := range s.tokens {
		toks = append(toks, t)
	}
	s.tokMu.Unlock()
	for batch := range slices.Chunk(toks, 500) {
		// A run already taken back is no longer in the list: XCLAIM skips it.
		err := s.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: s.key("run"), Group: s.group, Consumer: s.consumer, MinIdle: 0, Messages: batch,
		}).Err()
		if err != nil && err != redis.Nil {
			return err
		}
	}
	return nil
}

// reap takes back the runs idle for ClaimIdle and returns how many jobs
// it made pending.
func (s *RedisStore) reap(ctx context.Context) (int, error) {
	n, err := s.run(ctx, scriptReap, s.group, s.consumer, s.opts.ClaimIdle.Milliseconds(), 100)
	if err != nil {
		return 0, err
	}
	return int(n.(int64)), nil
}

// forgetConsumers deletes consumers of the group that hold no runs and
// have been idle for 100 ClaimIdle (processes long gone), so that the
// group does not grow with every restart.
func (s *RedisStore) forgetConsumers(ctx context.Context) error {
	cs, err := s.rdb.XInfoConsumers(ctx, s.key("run"), s.group).Result()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Name == s.consumer || c.Pending > 0 || c.Idle < 100*s.opts.ClaimIdle {
			continue
		}
		if _, err := s.run(ctx, scriptForgetConsumer, s.group, c.Name); err != nil {
			return err
		}
	}
	return nil
}
