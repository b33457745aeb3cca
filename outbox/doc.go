// Package outbox is holdline's durable job queue: every CRM write or upload
// that could not be done synchronously becomes a Job, and a Dispatcher
// replays jobs until they succeed or go dead and wait for a person.
//
// It is part of a binary, not a stable API.
//
// # Contract
//
// Store is the contract every backend implements: BoltStore (embedded,
// the default) and, for fleets, a Redis Streams store. Both must pass the
// one suite in package storetest. The Dispatcher depends only on Store.
//
// A job is durable when Enqueue returns: BoltStore commits it with an
// fsync before returning. Writes go through a group commit (one goroutine
// commits everything queued while the previous commit was on disk, in one
// transaction), so concurrent producers share one commit and no write
// waits for a timer.
//
// # Idempotency
//
// Enqueue with an IdempotencyKey that the store already holds returns the
// existing job and created == false, never a second job. The lookup and the
// insert happen in the same write transaction, so 100 concurrent Enqueue
// calls with one key create exactly one job. Keys are remembered as long as
// their job: Purge (and the Dispatcher's retention sweep) forgets both.
//
// # Ordering
//
// Jobs of one interaction (same InteractionID) run strictly one at a time,
// in ID order (IDs are ULIDs assigned at commit, so ID order is enqueue
// order). A job without an InteractionID is an interaction of its own.
// Jobs of different interactions run in parallel.
//
// The head of an interaction is its earliest job that is not done. Only a
// pending head whose interaction has nothing inflight may be claimed. So:
//
//   - later jobs wait while an earlier one is pending (for example in
//     backoff) or inflight;
//   - when an earlier job goes dead, the later jobs of its interaction are
//     held: they stay pending and are counted as Stats.Blocked (and as the
//     "blocked" depth gauge) until the dead job is replayed and done, or
//     purged. A comment therefore never lands before its record exists, and
//     a dead job never blocks silently.
//
// # States
//
//	pending  --Claim-->     inflight --Complete--> done
//	inflight --Fail-->      pending (retry at NextAttemptAt) | dead
//	dead, done, pending --Replay--> pending, due now, attempts reset
//	inflight --RecoverInflight--> pending (the worker died; attempt not counted)
//
// # Bolt layout
//
// BoltStore keeps one file with these buckets (keys are bytes, ids are
// 26-character ULID strings, "+" is concatenation, 0x00 a separator):
//
//	jobs          id -> Job as a binary record (bolt_codec.go; JSON in
//	              files of schema 1, still read) (the source of truth)
//	idempotency   idempotency key -> id
//	interactions  ikey + 0x00 + id -> state byte, for every job
//	states        state byte + id -> empty, for every job
//	ready         dependency + 0x00 + NextAttemptAt (8 bytes) + id -> empty,
//	              only for claimable interaction heads
//	meta          "counts" -> jobs per state; "version" -> schema version (2)
//
// ikey is "i" + InteractionID, or "j" + id for a job without one. Claim
// seeks each dependency's slice of ready, skipping paused dependencies
// whole, so a paused backlog costs nothing to poll. The package's tests
// check that these indexes agree after every test (BoltStore.Check, in
// bolt_check_test.go; the Redis store has its own in redis_check_test.go).
package outbox
