package cache

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

// KeyPrefix starts every Redis key the cache writes.
const KeyPrefix = "holdline:pop:"

// Value formats in Redis. The prefix is the format version; sealed values
// then carry the id of the key that sealed them.
var (
	plainPrefix  = []byte("p1:") // JSON
	sealedPrefix = []byte("g1:") // key id (4) | nonce (12) | AES-256-GCM(JSON), AAD = Redis key
)

const keyIDLen = 4

// errUndecodable is returned for a Redis value that is corrupt or fails
// authentication. It counts as an L2 error, never as data.
var errUndecodable = errors.New("cache: redis value cannot be decoded")

// l2 is the Redis tier.
type l2 struct {
	rdb   *redis.Client
	dep   *resilience.Dependency
	mac   []byte      // HMAC key for Redis keys; nil hashes with plain SHA-256
	aead  cipher.AEAD // nil stores plaintext JSON
	keyID []byte
	// prev, during a key rotation (cache.previous_encryption_key), reads
	// what the old key wrote when the current key misses; nothing is
	// written under it.
	prev *l2
}

func parseKey(s config.Secret) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s.Reveal())
	if err != nil || len(k) != 32 {
		// Say nothing about the value: it is a secret.
		return nil, errors.New("cache.encryption_key: must be 32 bytes, base64-encoded (openssl rand -base64 32)")
	}
	return k, nil
}

// newL2 builds the tier with the current key and, when set, the previous
// key it still reads during a rotation.
func newL2(rdb *redis.Client, dep *resilience.Dependency, secret, previous config.Secret) (*l2, error) {
	t, err := newL2Key(rdb, dep, secret)
	if err != nil || !previous.IsSet() {
		return t, err
	}
	if t.prev, err = newL2Key(rdb, dep, previous); err != nil {
		return nil, errors.New("cache.previous_encryption_key: must be 32 bytes, base64-encoded (openssl rand -base64 32)")
	}
	return t, nil
}

func newL2Key(rdb *redis.Client, dep *resilience.Dependency, secret config.Secret) (*l2, error) {
	t := &l2{rdb: rdb, dep: dep}
	if !secret.IsSet() {
		return t, nil
	}
	master, err := parseKey(secret)
	if err != nil {
		return nil, err
	}
	// One key, three purposes: derive a separate subkey for each, so that
	// the key hash never reuses the encryption key.
	derive := func(info string, n int) []byte {
		k, err := hkdf.Key(sha256.New, master, nil, info, n)
		if err != nil {
			panic(err) // only for lengths hkdf cannot produce; ours are constants
		}
		return k
	}
	t.mac = derive("holdline cache redis key v1", 32)
	t.keyID = derive("holdline cache key id v1", keyIDLen)
	block, err := aes.NewCipher(derive("holdline cache aes-256-gcm v1", 32))
	if err != nil {
		return nil, fmt.Errorf("cache.encryption_key: %w", err)
	}
	if t.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("cache.encryption_key: %w", err)
	}
	return t, nil
}

// redisKey is KeyPrefix and the hex (HMAC-)SHA-256 of key.
func (t *l2) redisKey(key string) string {
	var sum []byte
	if t.mac != nil {
		h := hmac.New(sha256.New, t.mac)
		h.Write([]byte(key))
		sum = h.Sum(nil)
	} else {
		s := sha256.Sum256([]byte(key))
		sum = s[:]
	}
	return KeyPrefix + hex.EncodeToString(sum)
}

// get reads key through the redis dependency. A missing key, or a value
// sealed under another key id (after a key rotation), is a miss; during a
// rotation a miss is asked again under the previous key.
func (t *l2) get(ctx context.Context, key string) (Entry, bool, error) {
	e, ok, err := t.getOne(ctx, key)
	if ok || err != nil || t.prev == nil {
		return e, ok, err
	}
	return t.prev.getOne(ctx, key)
}

func (t *l2) getOne(ctx context.Context, key string) (Entry, bool, error) {
	rk := t.redisKey(key)
	b, err := resilience.Read(ctx, t.dep, "get", func(ctx context.Context) ([]byte, error) {
		if err := t.dep.Inject(ctx); err != nil {
			return nil, err
		}
		b, err := t.rdb.Get(ctx, rk).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil, nil // a miss is an answer, not a failure for the breaker
		}
		return b, err
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("cache: redis get: %w", err)
	}
	if b == nil {
		return Entry{}, false, nil
	}
	return t.decode(rk, b)
}

// set writes e under key with ttl through the redis dependency.
func (t *l2) set(ctx context.Context, key string, e Entry, ttl time.Duration) error {
	rk := t.redisKey(key)
	v, err := t.encode(rk, e)
	if err != nil {
		return err
	}
	// SET of the same value is idempotent, so the chain may retry it.
	_, err = resilience.Read(ctx, t.dep, "set", func(ctx context.Context) (struct{}, error) {
		if err := t.dep.Inject(ctx); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, t.rdb.Set(ctx, rk, v, ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

func (t *l2) encode(rk string, e Entry) ([]byte, error) {
	js, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("cache: encode entry: %w", err)
	}
	if t.aead == nil {
		return append(bytes.Clone(plainPrefix), js...), nil
	}
	ns := t.aead.NonceSize()
	out := make([]byte, 0, len(sealedPrefix)+keyIDLen+ns+len(js)+t.aead.Overhead())
	out = append(out, sealedPrefix...)
	out = append(out, t.keyID...)
	nonce := out[len(out) : len(out)+ns]
	rand.Read(nonce) // never returns an error (crypto/rand, go1.24+)
	out = out[:len(out)+ns]
	return t.aead.Seal(out, nonce, js, []byte(rk)), nil
}

func (t *l2) decode(rk string, b []byte) (Entry, bool, error) {
	var js []byte
	switch {
	case t.aead == nil && bytes.HasPrefix(b, plainPrefix):
		js = b[len(plainPrefix):]
	case t.aead == nil:
		return Entry{}, false, nil // sealed by a sidecar with a key we lack
	case !bytes.HasPrefix(b, sealedPrefix):
		return Entry{}, false, nil // plaintext: never trust it when encryption is on
	default:
		b = b[len(sealedPrefix):]
		ns := t.aead.NonceSize()
		if len(b) < keyIDLen+ns+t.aead.Overhead() {
			return Entry{}, false, errUndecodable
		}
		if !bytes.Equal(b[:keyIDLen], t.keyID) {
			return Entry{}, false, nil // sealed under another key
		}
		nonce, sealed := b[keyIDLen:keyIDLen+ns], b[keyIDLen+ns:]
		var err error
		if js, err = t.aead.Open(nil, nonce, sealed, []byte(rk)); err != nil {
			return Entry{}, false, errUndecodable
		}
	}
	var e Entry
	if err := json.Unmarshal(js, &e); err != nil {
		return Entry{}, false, errUndecodable
	}
	if e.Lookup.Records == nil {
		e.Lookup.Records = []crm.Record{}
	}
	return e, true, nil
}
