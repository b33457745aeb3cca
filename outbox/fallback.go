package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// FallbackOptions tunes NewFallback. The zero value is ready to use.
type FallbackOptions struct {
	// Timeout bounds one attempt to enqueue on Redis before the job goes
	// to the local store instead. Default 500ms.
	Timeout time.Duration
	// RetryInterval is how often Run tries to forward local jobs while
	// Redis is unreachable. Default 1s.
	RetryInterval time.Duration
	// Logger receives forwarding progress and errors. Nil discards.
	Logger *slog.Logger
}

// FallbackStore is a RedisStore that keeps accepting jobs while Redis is
// unreachable: Enqueue falls back to a local BoltStore, and Run forwards
// the local jobs to Redis when it returns, in order per interaction and
// with their idempotency keys, so that no job is lost, duplicated or
// reordered. Every other method is the RedisStore's (Get also finds a job
// not yet forwarded; Stats counts those as pending).
//
// A job accepted locally keeps its local ID until it is forwarded and then
// gets a Redis ID; its idempotency key is the stable handle. A job without
// one is forwarded with the key "holdline-fallback/" + its local ID, so a
// forward interrupted by a crash is not repeated.
//
// It is safe for concurrent use. Close closes both stores.
type FallbackStore struct {
	remote *RedisStore
	local  *BoltStore
	opts   FallbackOptions
	log    *slog.Logger
	wake   chan struct{}
}

var _ Store = (*FallbackStore)(nil)

// NewFallback returns a FallbackStore over remote, falling back to local.
// Run must run for local jobs to reach Redis.
func NewFallback(remote *RedisStore, local *BoltStore, opts FallbackOptions) *FallbackStore {
	if opts.Timeout <= 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FallbackStore{remote: remote, local: local, opts: opts, log: log, wake: make(chan struct{}, 1)}
}

// Enqueue implements Store. It enqueues on Redis, within Timeout; if Redis
// fails (other than for an invalid job or the caller's own ctx) the job is
// stored durably in the local store instead, and created is true. While
// the local store holds jobs of the same interaction not yet forwarded,
// the job goes there too, behind them, so that order is kept. A job that
// Redis stored but could not replicate (ErrNotReplicated) is accepted.
func (s *FallbackStore) Enqueue(ctx context.Context, j Job) (Job, bool, error) {
	if err := validateJob(j); err != nil {
		return Job{}, false, err
	}
	if j.InteractionID != "" {
		waiting, _, err := s.local.List(ctx, Filter{Interaction: j.InteractionID, State: Pending, Limit: 1})
		if err != nil {
			return Job{}, false, err
		}
		inflight, _, err := s.local.List(ctx, Filter{Interaction: j.InteractionID, State: Inflight, Limit: 1})
		if err != nil {
			return Job{}, false, err
		}
		if len(waiting)+len(inflight) > 0 {
			return s.enqueueLocal(ctx, j)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	out, created, err := s.remote.Enqueue(rctx, j)
	cancel()
	switch {
	case err == nil, errors.Is(err, ErrNotReplicated) && out.ID != "":
		return out, created, nil
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrClosed), ctx.Err() != nil:
		return Job{}, false, err
	}
	s.log.Warn("outbox: redis unavailable, job kept locally until it returns", "error", err)
	return s.enqueueLocal(ctx, j)
}

func (s *FallbackStore) enqueueLocal(ctx context.Context, j Job) (Job, bool, error) {
	out, created, err := s.local.Enqueue(ctx, j)
	if err == nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return out, created, err
}

// Run forwards local jobs to Redis until ctx is done: at start, when a job
// is stored locally, and every RetryInterval while some remain. It
// returns nil on cancellation.
func (s *FallbackStore) Run(ctx context.Context) error {
	if _, err := s.local.RecoverInflight(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("outbox: fallback: %w", err)
	}
	t := time.NewTicker(s.opts.RetryInterval)
	defer t.Stop()
	for {
		if n, err := s.Forward(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("outbox: forward local jobs to redis", "error", err, "forwarded", n)
		} else if n > 0 {
			s.log.Info("outbox: forwarded local jobs to redis", "jobs", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-t.C:
		}
	}
}

// forwardAll is the due time that makes every local job claimable.
var forwardAll = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) // within UnixNano's range

// Forward moves every local job to Redis and returns how many it moved.
// It claims local interaction heads (so an interaction's jobs go in
// order), enqueues each on Redis with its idempotency key and due time,
// and marks it done locally; forwarded jobs are then purged. It stops at
// the first Redis error, leaving the rest for the next call.
func (s *FallbackStore) Forward(ctx context.Context) (int, error) {
	n := 0
	defer func() {
		if n > 0 {
			if _, err := s.local.Purge(context.WithoutCancel(ctx), Done, forwardAll); err != nil {
				s.log.Warn("outbox: purge forwarded jobs", "error", err)
			}
		}
	}()
	for {
		jobs, err := s.local.Claim(ctx, forwardAll, 64, nil)
		if err != nil || len(jobs) == 0 {
			return n, err
		}
		for i, j := range jobs {
			fwd := Job{
				Kind: j.Kind, Dependency: j.Dependency, InteractionID: j.InteractionID,
				IdempotencyKey: j.IdempotencyKey, Payload: j.Payload, NextAttemptAt: j.NextAttemptAt,
				Origin: j.Origin,
			}
			if fwd.IdempotencyKey == "" {
				fwd.IdempotencyKey = "holdline-fallback/" + j.ID
			}
			rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
			got, _, err := s.remote.Enqueue(rctx, fwd)
			cancel()
			if err != nil && !(errors.Is(err, ErrNotReplicated) && got.ID != "") {
				// Put this job and the rest back, untouched.
				lctx := context.WithoutCancel(ctx)
				for _, r := range jobs[i:] {
					if ferr := s.local.Fail(lctx, r.ID, Failure{Err: "redis unavailable", Uncounted: true, RetryAt: r.NextAttemptAt}); ferr != nil {
						return n, errors.Join(err, ferr)
					}
				}
				return n, err
			}
			res, _ := json.Marshal(map[string]string{"forwarded_to": got.ID})
			if err := s.local.Complete(context.WithoutCancel(ctx), j.ID, res); err != nil {
				return n, err
			}
			n++
		}
	}
}

// Get implements Store: Redis first, then the jobs not yet forwarded.
func (s *FallbackStore) Get(ctx context.Context, id string) (Job, error) {
	j, err := s.remote.Get(ctx, id)
	if err == nil || ctx.Err() != nil {
		return j, err
	}
	if lj, lerr := s.local.Get(ctx, id); lerr == nil && lj.State != Done {
		return lj, nil
	}
	return j, err
}

// Stats implements Store: Redis's counts, with jobs not yet forwarded
// counted as pending.
func (s *FallbackStore) Stats(ctx context.Context) (Stats, error) {
	st, err := s.remote.Stats(ctx)
	if err != nil {
		return st, err
	}
	lst, err := s.local.Stats(ctx)
	if err != nil {
		return Stats{}, err
	}
	st.Pending += lst.Pending + lst.Inflight
	st.Held += lst.Held
	st.Dead += lst.Dead
	if !lst.OldestPending.IsZero() && (st.OldestPending.IsZero() || lst.OldestPending.Before(st.OldestPending)) {
		st.OldestPending = lst.OldestPending
	}
	return st, nil
}

// List implements Store (Redis only).
func (s *FallbackStore) List(ctx context.Context, f Filter) ([]Job, string, error) {
	return s.remote.List(ctx, f)
}

// Interaction implements Store: Redis's jobs of the interaction, then the
// local jobs not yet forwarded (they will run after them). When Redis
// cannot answer within Timeout, it returns the local jobs alone with an
// error wrapping ErrPartial, so that a caller may still accept a write for
// an interaction it cannot see whole while Redis is down.
func (s *FallbackStore) Interaction(ctx context.Context, id string) ([]Job, error) {
	// Local first: a job forwarded in between then shows twice (and is
	// deduplicated by its key) rather than not at all.
	all, err := s.local.Interaction(ctx, id)
	if err != nil {
		return nil, err
	}
	var local []Job
	for _, j := range all {
		if j.State != Done {
			local = append(local, j)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	remote, err := s.remote.Interaction(rctx, id)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err
	case err != nil:
		return local, fmt.Errorf("%w: %w", ErrPartial, err)
	}
	seen := make(map[string]bool, len(remote))
	for _, j := range remote {
		if j.IdempotencyKey != "" {
			seen[j.IdempotencyKey] = true
		}
	}
	for _, j := range local {
		key := j.IdempotencyKey
		if key == "" {
			key = "holdline-fallback/" + j.ID
		}
		if !seen[key] {
			remote = append(remote, j)
		}
	}
	return remote, nil
}

// Local is the local fallback store: it holds the jobs accepted while
// Redis was unreachable until Run forwards them. A sweep that must know
// every job that may still run (the spool's orphan sweep) asks it as
// well as the FallbackStore.
func (s *FallbackStore) Local() *BoltStore { return s.local }

// Claim implements Store (Redis only: local jobs run once forwarded).
func (s *FallbackStore) Claim(ctx context.Context, now time.Time, max int, paused func(string) bool) ([]Job, error) {
	return s.remote.Claim(ctx, now, max, paused)
}

// Complete implements Store.
func (s *FallbackStore) Complete(ctx context.Context, id string, result json.RawMessage) error {
	return s.remote.Complete(ctx, id, result)
}

// Fail implements Store.
func (s *FallbackStore) Fail(ctx context.Context, id string, f Failure) error {
	return s.remote.Fail(ctx, id, f)
}

// Replay implements Store.
func (s *FallbackStore) Replay(ctx context.Context, id string) (Job, error) {
	return s.remote.Replay(ctx, id)
}

// Purge implements Store.
func (s *FallbackStore) Purge(ctx context.Context, state State, olderThan time.Time) (int, error) {
	return s.remote.Purge(ctx, state, olderThan)
}

// RecoverInflight implements Store.
func (s *FallbackStore) RecoverInflight(ctx context.Context) (int, error) {
	return s.remote.RecoverInflight(ctx)
}

// Close closes the Redis store and the local store.
func (s *FallbackStore) Close() error {
	return errors.Join(s.remote.Close(), s.local.Close())
}
