package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/internal/testenv"
	"github.com/holdline/holdline/outbox"
	"github.com/holdline/holdline/outbox/storetest"
)

// prefixes makes every RedisStore in this package's tests its own
// namespace on a shared server.
var prefixes atomic.Int64

func newPrefix(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("test:%d:%s", prefixes.Add(1), name)
}

func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 64})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func openRedis(t testing.TB, rdb redis.UniversalClient, opts outbox.RedisOptions) *outbox.RedisStore {
	t.Helper()
	s, err := outbox.OpenRedis(context.Background(), rdb, opts)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	rdb := redisClient(t, srv.Addr)
	storetest.Run(t, func(t *testing.T) outbox.Store {
		return openRedis(t, rdb, outbox.RedisOptions{Prefix: newPrefix(t)})
	})
}

func TestRedisClosed(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	s, err := outbox.OpenRedis(t.Context(), redisClient(t, srv.Addr), outbox.RedisOptions{Prefix: newPrefix(t)})
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

func TestOpenRedisInvalid(t *testing.T) {
	t.Parallel()
	_, err := outbox.OpenRedis(t.Context(), redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), outbox.RedisOptions{
		Prefix: "a{b}", ClaimIdle: time.Second, Heartbeat: 2 * time.Second,
	})
	if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), "brace") || !strings.Contains(err.Error(), "heartbeat") {
		t.Errorf("OpenRedis(bad options) error = %v, want ErrInvalid naming the prefix and the heartbeat", err)
	}
}
