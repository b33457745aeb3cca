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

func TestCheckPersistence(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts testenv.RedisOptions
		want []string // substrings, one per warning
	}{
		{"always", testenv.RedisOptions{Persist: true}, nil},
		{"everysec", testenv.RedisOptions{Persist: true, Args: []string{"--appendfsync", "everysec"}}, []string{"everysec"}},
		{"no aof, evicting", testenv.RedisOptions{Args: []string{"--maxmemory-policy", "allkeys-lru"}}, []string{"appendonly is no", "allkeys-lru"}},
		{"config disabled", testenv.RedisOptions{Persist: true, Args: []string{"--rename-command", "CONFIG", ""}}, []string{"CONFIG GET is disabled"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testenv.StartRedis(t, tt.opts)
			got := outbox.CheckPersistence(t.Context(), redisClient(t, srv.Addr))
			if len(got) != len(tt.want) {
				t.Fatalf("CheckPersistence = %q, want %d warnings about %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to mention %q", i, got[i], w)
				}
			}
		})
	}
}

// TestRedisWaitReplicas asks for a replica that does not exist: the job is
// stored on the primary and Enqueue says it was not replicated.
func TestRedisWaitReplicas(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	s := openRedis(t, redisClient(t, srv.Addr), outbox.RedisOptions{Prefix: newPrefix(t), WaitReplicas: 1, WaitTimeout: 50 * time.Millisecond})
	j, created, err := s.Enqueue(t.Context(), outbox.Job{Kind: "k", IdempotencyKey: "w"})
	if !errors.Is(err, outbox.ErrNotReplicated) || !created || j.ID == "" {
		t.Fatalf("Enqueue = %s, created %v, %v; want the job and ErrNotReplicated", j.ID, created, err)
	}
	if got, err := s.Get(t.Context(), j.ID); err != nil || got.IdempotencyKey != "w" {
		t.Errorf("Get(%s) = %+v, %v; want the job", j.ID, got, err)
	}
}
