package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/cache"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/testenv"
)

// fleet is two sidecars' caches sharing one real Redis.
type fleet struct {
	redis *testenv.Redis
	a, b  *cache.Cache
	regB  *prometheus.Registry
	clk   *clock
}

func newFleet(t *testing.T, keyA, keyB config.Secret) *fleet {
	t.Helper()
	f := &fleet{redis: testenv.StartRedis(t, testenv.RedisOptions{}), clk: newClock(), regB: prometheus.NewRegistry()}
	mk := func(key config.Secret, reg prometheus.Registerer) *cache.Cache {
		cfg := testConfig()
		cfg.EncryptionKey = key
		// A timeout far above any real Redis write: these tests are about
		// sharing and keys, and a background write cut short by a busy
		// machine would be dropped (the L2 is best effort).
		c, err := cache.New(cfg, newRedisClient(t, f.redis.Addr), redisDep(t, 10*time.Second),
			cache.Options{Now: f.clk.Now, Registerer: reg})
		if err != nil {
			t.Fatalf("cache.New: %v", err)
		}
		run(t, c)
		return c
	}
	f.a, f.b = mk(keyA, nil), mk(keyB, f.regB)
	return f
}

// waitL2 waits until Redis holds n keys: writes are in the background.
func (f *fleet) waitL2(t *testing.T, n int) {
	t.Helper()
	rdb := newRedisClient(t, f.redis.Addr)
	eventually(t, fmt.Sprintf("Redis to hold %d keys", n), func() bool {
		got, err := rdb.DBSize(t.Context()).Result()
		return err == nil && got >= int64(n)
	})
}

func TestRedisSharesEntriesAcrossTheFleet(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  bool
	}{{"plaintext", false}, {"aes-gcm", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var key config.Secret
			if tc.key {
				key = newKey(t)
			}
			f := newFleet(t, key, key)
			want := f.a.NewEntry(lookup(), f.clk.Now())
			f.a.Set(ada, want)
			f.waitL2(t, 1)

			got, ok := f.b.Get(t.Context(), ada)
			if !ok {
				t.Fatalf("B.Get(%q) after A.Set = miss, want the entry from Redis", ada)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("B.Get(%q) mismatch (-want +got):\n%s", ada, diff)
			}
			if got := counter(t, f.regB, "l2", "hit_fresh"); got != 1 {
				t.Errorf("B's l2 hit_fresh = %v, want 1", got)
			}
			// Now in B's L1: no Redis needed.
			if _, ok := f.b.GetFresh(ada); !ok {
				t.Errorf("B.GetFresh(%q) after an L2 hit = miss, want it copied to L1", ada)
			}
		})
	}
}

func TestRedisNeverHoldsTheNumberOrTheContact(t *testing.T) {
	for _, tc := range []struct {
		name      string
		key       bool
		valueLeak bool // plaintext values hold the contact (which proves the scan works); keys never do
	}{{"plaintext", false, true}, {"aes-gcm", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var key config.Secret
			if tc.key {
				key = newKey(t)
			}
			f := newFleet(t, key, key)
			f.a.Set(ada, f.a.NewEntry(lookup(), f.clk.Now()))
			f.waitL2(t, 1)

			rdb := newRedisClient(t, f.redis.Addr)
			keys, err := rdb.Keys(t.Context(), "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			keyRE := regexp.MustCompile(`^holdline:pop:[0-9a-f]{64}$`)
			for _, k := range keys {
				if !keyRE.MatchString(k) {
					t.Errorf("Redis key %q, want holdline:pop:<sha-256 hex>", k)
				}
				v, err := rdb.Get(t.Context(), k).Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains([]byte(k), []byte("4155550100")) {
					t.Errorf("Redis key %q holds the number", k)
				}
				for _, secret := range []string{"4155550100", adaName, "ada@example.com"} {
					if got := bytes.Contains(v, []byte(secret)); got != tc.valueLeak {
						t.Errorf("value of %s contains %q = %v, want %v", k, secret, got, tc.valueLeak)
					}
				}
				ttl, err := rdb.PTTL(t.Context(), k).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl <= 59*time.Minute || ttl > time.Hour {
					t.Errorf("PTTL(%s) = %v, want about stale_ttl (1h)", k, ttl)
				}
			}
			if len(keys) != 1 {
				t.Errorf("Redis holds %d keys, want 1", len(keys))
			}
		})
	}
}

func TestRedisKeyedHashDependsOnTheKey(t *testing.T) {
	f1 := newFleet(t, newKey(t), "")
	f1.a.Set(ada, f1.a.NewEntry(lookup(), f1.clk.Now()))
	f1.b.Set(ada, f1.b.NewEntry(lookup(), f1.clk.Now()))
	f1.waitL2(t, 2) // keyed and unkeyed hashes differ: two keys
}

func TestRedisWrongKeyIsAMiss(t *testing.T) {
	for _, tc := range []struct {
		name         string
		writer, read func(*testing.T) config.Secret
	}{
		{"rotated key", newKey, newKey},
		{"reader has no key", newKey, func(*testing.T) config.Secret { return "" }},
		{"writer had no key", func(*testing.T) config.Secret { return "" }, newKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, tc.writer(t), tc.read(t))
			f.a.Set(ada, f.a.NewEntry(lookup(), f.clk.Now()))
			f.waitL2(t, 1)
			if e, ok := f.b.Get(t.Context(), ada); ok {
				t.Errorf("B.Get(%q) with another key = %+v, want a miss", ada, e)
			}
		})
	}
}

func TestRedisTamperedValueIsAnError(t *testing.T) {
	key := newKey(t)
	f := newFleet(t, key, key)
	f.a.Set(ada, f.a.NewEntry(lookup(), f.clk.Now()))
	f.waitL2(t, 1)
	rdb := newRedisClient(t, f.redis.Addr)
	keys, _ := rdb.Keys(t.Context(), "*").Result()
	v, _ := rdb.Get(t.Context(), keys[0]).Bytes()
	v[len(v)-1] ^= 1
	rdb.Set(t.Context(), keys[0], v, time.Hour)

	if e, ok := f.b.Get(t.Context(), ada); ok {
		t.Errorf("B.Get(%q) of a tampered value = %+v, want a miss", ada, e)
	}
	if got := counter(t, f.regB, "l2", "error"); got != 1 {
		t.Errorf("l2 error = %v, want 1", got)
	}
}

// TestRedisDownOrHangingCostsAtMostItsTimeout: a Redis that is gone or
// never answers is skipped within the redis dependency's timeout, L1 keeps
// answering, and once the breaker opens Redis costs nothing. It runs in a
// synctest bubble, so the durations it asserts are exact, whatever the
// machine's load.
func TestRedisDownOrHangingCostsAtMostItsTimeout(t *testing.T) {
	const timeout = 50 * time.Millisecond
	stopped := testenv.StartRedis(t, testenv.RedisOptions{})
	stopped.Stop()
	for _, tc := range []struct {
		name   string
		client func(*testing.T) *redis.Client
	}{
		// A real refused port: the dial fails at once, no bubble time passes.
		{"stopped", func(t *testing.T) *redis.Client {
			// One dial attempt: a dial goroutine of go-redis waiting on a
			// retry backoff would outlive the bubble.
			rdb := redis.NewClient(&redis.Options{Addr: stopped.Addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
			t.Cleanup(func() { rdb.Close() })
			return rdb
		}},
		{"hanging", hangingRedis},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				c, err := cache.New(testConfig(), tc.client(t), redisDep(t, timeout), cache.Options{Registerer: reg})
				if err != nil {
					t.Fatal(err)
				}
				run(t, c)
				c.Set(ada, c.NewEntry(lookup(), time.Now()))
				for i := range 20 {
					start := time.Now()
					if _, ok := c.Get(t.Context(), "+14155550199"); ok {
						t.Fatal("Get(unknown) found an entry")
					}
					if el := time.Since(start); el > timeout {
						t.Errorf("Get %d with Redis %s took %v, want at most the redis timeout %v", i, tc.name, el, timeout)
					}
					if _, ok := c.Get(t.Context(), ada); !ok {
						t.Errorf("Get(%q) with Redis %s = miss, want the L1 entry", ada, tc.name)
					}
				}
				if got := counter(t, reg, "l2", "error"); got != 20 {
					t.Errorf("l2 error = %v, want 20", got)
				}
				// The breaker is open by now: a lookup no longer touches Redis.
				start := time.Now()
				c.Get(t.Context(), "+14155550198")
				if el := time.Since(start); el != 0 {
					t.Errorf("Get with the redis breaker open took %v, want no wait", el)
				}
			})
		})
	}
}

func TestGetHonoursTheCallersDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := cache.New(testConfig(), hangingRedis(t), redisDep(t, time.Second), cache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		run(t, c) // its return stops L1's maintenance goroutine, which must not outlive the bubble
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		c.Get(ctx, ada)
		if el := time.Since(start); el != 30*time.Millisecond {
			t.Errorf("Get with a 30ms deadline and a hanging Redis took %v, want the 30ms deadline", el)
		}
	})
}

// TestRedisDrillFaultsApply: a drill that slows or fails the redis
// dependency reaches the Redis calls (through Dependency.Inject), and the
// lookups still end within the redis timeout. The bubble makes the
// durations exact; the real Redis under it answers at once (its I/O takes
// no bubble time), so a drill that did not apply would show as a miss, not
// an error.
func TestRedisDrillFaultsApply(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	for _, tc := range []struct {
		name  string
		fault resilience.Fault
	}{
		{"latency", resilience.Fault{Latency: config.Duration(time.Second)}},
		{"errors", resilience.Fault{ErrorRate: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				faults := resilience.NewFaults(nil)
				deps := config.Default().Dependencies
				deps.Redis.Timeout = config.Duration(50 * time.Millisecond)
				set, err := resilience.NewSet(deps, resilience.Options{AllowLoopback: true, Faults: faults})
				if err != nil {
					t.Fatal(err)
				}
				reg := prometheus.NewRegistry()
				c, err := cache.New(testConfig(), newRedisClient(t, r.Addr), set.Get("redis"), cache.Options{Registerer: reg})
				if err != nil {
					t.Fatal(err)
				}
				run(t, c)
				tc.fault.Dependency, tc.fault.Duration = "redis", config.Duration(time.Minute)
				if _, err := faults.Add(tc.fault); err != nil {
					t.Fatalf("Faults.Add: %v", err)
				}
				start := time.Now()
				if _, ok := c.Get(t.Context(), ada); ok {
					t.Error("Get found an entry")
				}
				// The timeout cuts the injected second short; injected errors
				// cost only the retry policy's backoff.
				if el := time.Since(start); el > 50*time.Millisecond {
					t.Errorf("Get under a redis %s drill took %v, want at most the 50ms timeout", tc.name, el)
				}
				if got := counter(t, reg, "l2", "error"); got != 1 {
					t.Errorf("l2 error = %v, want 1: the drill did not reach the Redis call", got)
				}
			})
		})
	}
}

func TestRedisWritesNeverBlockAndDropWhenFull(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	reg := prometheus.NewRegistry()
	c, err := cache.New(testConfig(), newRedisClient(t, r.Addr), redisDep(t, 50*time.Millisecond),
		cache.Options{Registerer: reg, WriteQueue: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Run is not running: nothing drains the queue.
	for _, n := range []string{ada, "+14155550101", "+14155550102"} {
		c.Set(n, c.NewEntry(lookup(), time.Now()))
	}
	mfs, _ := reg.Gather()
	var dropped float64
	for _, mf := range mfs {
		if mf.GetName() == "holdline_cache_l2_writes_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "dropped" {
					dropped = m.GetCounter().GetValue()
				}
			}
		}
	}
	if dropped != 2 {
		t.Errorf("dropped writes = %v, want 2", dropped)
	}
	if _, ok := c.GetFresh("+14155550102"); !ok {
		t.Error("a Set whose Redis write was dropped is missing from L1")
	}
}
