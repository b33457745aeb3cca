// Package cache is holdline's two-tier, stale-if-error contact cache.
//
// L1 is in process: a size-bounded W-TinyLFU cache (otter) that keeps each
// entry until its StaleUntil. L2 is optional: a Redis shared by a fleet of
// sidecars, so that one sidecar's CRM answer warms the others and a
// restarted sidecar is not cold.
//
// Redis is a dependency like any other, and it is never allowed to slow
// the critical path down:
//
//   - every Redis call runs through the "redis" dependency's policy chain
//     (bulkhead, breaker, its own tight timeout) and its drill faults, so a
//     slow or dead Redis costs at most that timeout, then nothing at all
//     once the breaker opens;
//   - a Redis miss, error or timeout is a miss: the caller falls through to
//     the CRM;
//   - writes to Redis never happen on the caller's goroutine. Set puts the
//     entry in L1 and queues the Redis write on a bounded queue that the
//     writers started by Run drain; when the queue is full the write is
//     dropped and counted. A cache write is an optimisation, so losing one
//     is always better than making an agent wait for it.
//
// In Redis a key is "holdline:pop:" followed by the hex SHA-256 of the
// E.164 number, keyed (HMAC) with a key derived from cache.encryption_key
// when one is set; the raw number is never a Redis key. Note that an
// unkeyed hash of a phone number can be reversed by brute force, so set
// the encryption key wherever Redis is shared. With the key set, values are
// sealed with AES-256-GCM, the Redis key as additional data (a value
// cannot be moved to another number's key), and carry a version and key id
// prefix, so a value written under another key reads as a miss instead of
// garbage. The Redis TTL is the entry's StaleUntil.
//
// Rotating the key: set cache.encryption_key to the new key and
// cache.previous_encryption_key to the old one, and roll the fleet. A miss
// under the new key is asked again under the old one (one more Redis GET,
// inside the same budget), so the shared cache stays warm; everything is
// written under the new key. After cache.stale_ttl every old entry has
// expired: remove previous_encryption_key. docs/security.md has the steps.
//
// Not a stable API: holdline is a binary, and this package serves it.
package cache
