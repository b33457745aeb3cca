package cache_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/cache"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/testenv"
)

const (
	ada     = "+14155550100"
	adaName = "Ada Lovelace"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testConfig() config.Cache {
	c := config.Default().Cache
	c.MaxEntries = 1000
	c.FreshTTL = config.Duration(time.Minute)
	c.StaleTTL = config.Duration(time.Hour)
	return c
}

func newKey(t *testing.T) config.Secret {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return config.Secret(base64.StdEncoding.EncodeToString(k))
}

// redisDep returns the "redis" dependency with a tight timeout, as a
// deployment would configure it.
func redisDep(t *testing.T, timeout time.Duration) *resilience.Dependency {
	t.Helper()
	deps := config.Default().Dependencies
	deps.Redis.Timeout = config.Duration(timeout)
	deps.Redis.Retry.MaxAttempts = 1
	deps.Redis.Breaker.MinRequests = 5
	set, err := resilience.NewSet(deps, resilience.Options{AllowLoopback: true})
	if err != nil {
		t.Fatalf("resilience.NewSet: %v", err)
	}
	return set.Get("redis")
}

func newRedisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// run runs c.Run until the test ends and checks it returns nil.
func run(t *testing.T, c *cache.Cache) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

func lookup() crm.Lookup {
	return crm.Lookup{
		Contact: &crm.Contact{ID: "101", Name: adaName, Email: "ada@example.com", Phone: ada},
		Records: []crm.Record{{ID: "1001", Subject: "Billing question", Status: "open"}},
	}
}

func TestL1FreshStaleExpired(t *testing.T) {
	clk := newClock()
	reg := prometheus.NewRegistry()
	c, err := cache.New(testConfig(), nil, nil, cache.Options{Now: clk.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(t.Context(), ada); ok {
		t.Fatalf("Get(%q) on an empty cache found an entry", ada)
	}
	want := c.NewEntry(lookup(), clk.Now())
	c.Set(ada, want)

	got, ok := c.GetFresh(ada)
	if !ok || !got.Fresh(clk.Now()) {
		t.Fatalf("GetFresh(%q) = %v, %v, want a fresh entry", ada, got, ok)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetFresh(%q) mismatch (-want +got):\n%s", ada, diff)
	}

	clk.Add(2 * time.Minute) // past fresh, before stale
	if _, ok := c.GetFresh(ada); ok {
		t.Errorf("GetFresh(%q) after fresh_ttl found an entry", ada)
	}
	got, ok = c.Get(t.Context(), ada)
	if !ok || got.Fresh(clk.Now()) {
		t.Errorf("Get(%q) after fresh_ttl = fresh %v, ok %v, want a stale entry", ada, got.Fresh(clk.Now()), ok)
	}

	clk.Add(2 * time.Hour) // past stale
	if _, ok := c.Get(t.Context(), ada); ok {
		t.Errorf("Get(%q) after stale_ttl found an entry", ada)
	}

	for _, tc := range []struct {
		result string
		want   float64
	}{{"hit_fresh", 1}, {"hit_stale", 1}, {"miss", 2}} {
		if got := counter(t, reg, "l1", tc.result); got != tc.want {
			t.Errorf("holdline_cache_requests_total{tier=l1,result=%s} = %v, want %v", tc.result, got, tc.want)
		}
	}
}

func TestSetKeepsNewerEntry(t *testing.T) {
	clk := newClock()
	c, err := cache.New(testConfig(), nil, nil, cache.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	newer := c.NewEntry(lookup(), clk.Now())
	older := c.NewEntry(crm.Lookup{}, clk.Now().Add(-time.Second))
	c.Set(ada, newer)
	c.Set(ada, older)
	got, _ := c.Get(t.Context(), ada)
	if !got.FetchedAt.Equal(newer.FetchedAt) {
		t.Errorf("after Set(newer), Set(older): FetchedAt = %v, want %v", got.FetchedAt, newer.FetchedAt)
	}
}

func TestNewEntryRecordsNeverNil(t *testing.T) {
	c, err := cache.New(testConfig(), nil, nil, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := c.NewEntry(crm.Lookup{}, time.Now())
	if e.Lookup.Records == nil {
		t.Error("NewEntry(no records).Lookup.Records = nil, want empty")
	}
}

func TestNewValidates(t *testing.T) {
	cfg := config.Cache{MaxEntries: 0, FreshTTL: 0, StaleTTL: -1, EncryptionKey: "not base64!"}
	_, err := cache.New(cfg, nil, nil, cache.Options{})
	if err == nil {
		t.Fatal("New(bad config) = nil error")
	}
	for _, want := range []string{"cache.max_entries", "cache.fresh_ttl", "cache.stale_ttl", "cache.encryption_key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New(bad config) = %q, want it to name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "not base64!") {
		t.Errorf("New(bad config) = %q: it leaks the key", err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // ContextTimeoutEnabled not set
	defer rdb.Close()
	_, err = cache.New(testConfig(), rdb, redisDep(t, 50*time.Millisecond), cache.Options{})
	if err == nil || !strings.Contains(err.Error(), "ContextTimeoutEnabled") {
		t.Errorf("New(client without ContextTimeoutEnabled) = %v, want an error naming it", err)
	}
}

func TestL1IsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxEntries = 50
	c, err := cache.New(cfg, nil, nil, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		c.Set(string(rune('a'+i%26))+strings.Repeat("x", i/26), c.NewEntry(lookup(), time.Now()))
	}
	// W-TinyLFU applies evictions in batches, off the writer's path: on a
	// busy machine they may land a moment after the last Set. The bound
	// must hold once they have.
	remaining := func() int {
		n := 0
		for i := range 5000 {
			if _, ok := c.Peek(string(rune('a'+i%26)) + strings.Repeat("x", i/26)); ok {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for n := remaining(); n > 60; n = remaining() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5000 Sets into max_entries 50, %d entries remain", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, tier, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "holdline_cache_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["tier"] == tier && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// eventually polls cond until it holds, and fails the test naming what it
// waited for after 30s: a hang guard for work that goes through real
// sockets, never a claim about speed. On failure it dumps the goroutines.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("timed out waiting for %s; goroutines:\n%s", what, buf[:runtime.Stack(buf, true)])
		}
		<-tick.C
	}
}

// hangingRedis returns a client of a Redis that accepts connections and
// never answers: every dial gets one end of an in-memory pipe whose other
// end is never read. Unlike a TCP listener it works in a synctest bubble
// (a pipe blocks durably), so the client's waits run on the bubble's
// clock. Call it inside the bubble. The address is never dialed; it is an
// IP so that go-redis resolves no name (a resolver first used inside a
// bubble breaks its later users outside it), and one dial attempt keeps
// go-redis's dial retries from outliving the bubble.
func hangingRedis(t *testing.T) *redis.Client {
	t.Helper()
	var mu sync.Mutex
	var peers []net.Conn
	rdb := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1,
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			c, peer := net.Pipe()
			mu.Lock()
			peers = append(peers, peer)
			mu.Unlock()
			return c, nil
		},
	})
	t.Cleanup(func() {
		rdb.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range peers {
			p.Close()
		}
	})
	return rdb
}

// TestRunLeavesNoGoroutines: New starts L1's maintenance goroutine, Run
// starts the Redis writers; once Run returns, all of them are gone.
func TestRunLeavesNoGoroutines(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	for _, tc := range []struct {
		name string
		l2   bool
	}{{"l1 only", false}, {"with redis", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var rdb *redis.Client
			if tc.l2 {
				rdb = newRedisClient(t, r.Addr)
			}
			dep := redisDep(t, 50*time.Millisecond)
			before := runtime.NumGoroutine()
			c, err := cache.New(testConfig(), rdb, dep, cache.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() { done <- c.Run(ctx) }()
			c.Set(ada, c.NewEntry(lookup(), time.Now()))
			c.Get(t.Context(), "+14155550199")
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run = %v", err)
			}
			eventually(t, fmt.Sprintf("at most %d goroutines after Run returned", before), func() bool {
				return runtime.NumGoroutine() <= before
			})
		})
	}
}
