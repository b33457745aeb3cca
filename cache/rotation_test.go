package cache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/cache"
	"github.com/holdline/holdline/internal/config"
)

// TestRedisKeyRotationReadsThePreviousKey: during a rotation
// (encryption_key new, previous_encryption_key old) entries the old key
// sealed are still read, so a rolling restart does not empty the shared
// cache; new entries are written under the new key only, which a sidecar
// still on the old key cannot read.
func TestRedisKeyRotationReadsThePreviousKey(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	r := newFleet(t, oldKey, oldKey) // a: a sidecar still on the old key
	mk := func(cur, prev config.Secret) *cache.Cache {
		cfg := testConfig()
		cfg.EncryptionKey, cfg.PreviousEncryptionKey = cur, prev
		c, err := cache.New(cfg, newRedisClient(t, r.redis.Addr), redisDep(t, 10*time.Second), cache.Options{Now: r.clk.Now})
		if err != nil {
			t.Fatalf("cache.New: %v", err)
		}
		run(t, c)
		return c
	}
	rotating := mk(newK, oldKey)
	rotated := mk(newK, "")

	r.a.Set(ada, r.a.NewEntry(lookup(), r.clk.Now()))
	r.waitL2(t, 1)
	if _, ok := rotating.Get(t.Context(), ada); !ok {
		t.Fatal("a sidecar rotating keys misses an entry the previous key sealed")
	}
	if _, ok := rotated.Get(t.Context(), ada); ok {
		t.Fatal("a sidecar without the previous key read an entry the old key sealed")
	}

	const grace = "+14155550199"
	rotating.Set(grace, rotating.NewEntry(lookup(), r.clk.Now()))
	r.waitL2(t, 2)
	if _, ok := rotated.Get(t.Context(), grace); !ok {
		t.Error("an entry written during the rotation is not under the new key")
	}
	if _, ok := r.a.Get(t.Context(), grace); ok {
		t.Error("an entry written during the rotation was readable with the old key")
	}
}

// TestPreviousKeyMustBeAKey: a malformed previous key is refused naming
// the key.
func TestPreviousKeyMustBeAKey(t *testing.T) {
	cfg := testConfig()
	cfg.EncryptionKey, cfg.PreviousEncryptionKey = newKey(t), "c2hvcnQ="
	r := newFleet(t, "", "")
	_, err := cache.New(cfg, newRedisClient(t, r.redis.Addr), redisDep(t, time.Second), cache.Options{})
	if err == nil || !strings.Contains(err.Error(), "cache.previous_encryption_key") {
		t.Fatalf("cache.New with a short previous key = %v, want an error naming cache.previous_encryption_key", err)
	}
}
