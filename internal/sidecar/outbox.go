package sidecar

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/internal/tracing"
	"github.com/holdline/holdline/outbox"
)

// jobs is the sidecar's outbox: the store (bolt in {data_dir}/outbox.db,
// or Redis Streams over it in fleet mode), this sidecar's recording spool,
// and the one Dispatcher that runs every job kind. The dispatcher is the
// only path by which holdline writes to the CRM or uploads from the
// spool.
//
// openStores opens the local store and the spool, buildDependencies moves
// the store onto Redis in fleet mode, and buildFlows builds the flows,
// which enqueue through jobs, then the dispatcher from the handlers they
// return (bindDispatcher). That is the one cycle of the wiring: the flows
// queue jobs through the dispatcher that runs their handlers. It is
// closed before New returns; Enqueue and Replay return
// errOutboxNotStarted before it is.
//
// Its methods are safe for concurrent use once New has returned.
type jobs struct {
	store outbox.Store
	// bolt is the local store, the whole outbox unless in fleet mode.
	bolt *outbox.BoltStore
	// local is the fallback store in fleet mode (nil otherwise): it holds
	// the jobs accepted while Redis was unreachable.
	local outbox.Store
	// owner is this sidecar's id (see loadOwner).
	owner   string
	spool   *blob.Spool
	backend string
	svc     *interactions.Service
	d       *outbox.Dispatcher
	tr      *tracing.Tracing // for the jobs' origin (tracing.go)
}

// errOutboxNotStarted is returned by Enqueue and Replay before the
// dispatcher is bound (inside New only).
var errOutboxNotStarted = errors.New("sidecar: outbox dispatcher not started")

// openOutbox opens the local store at {data_dir}/outbox.db (bolt;
// ErrLocked after 5s when another process holds it) and registers its
// closer.
func (s *Sidecar) openOutbox() (*outbox.BoltStore, error) {
	local, err := outbox.OpenBolt(filepath.Join(s.cfg.DataDir, "outbox.db"), outbox.BoltOptions{
		LockTimeout: 5 * time.Second, // a restart may race the previous process's exit
		Registerer:  s.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("sidecar: %w", err)
	}
	s.closers = append(s.closers, local.Close)
	return local, nil
}

// useRedisOutbox moves the outbox onto Redis Streams (outbox.backend
// redis), with the local store as the durable fallback. Static stability:
// a sidecar must start while Redis is away; it then queues on its own disk
// until a restart finds Redis, and the fallback store forwards those jobs
// to the fleet.
func (s *Sidecar) useRedisOutbox(ctx context.Context) {
	j := s.jobs
	if s.cfg.Outbox.Backend != "redis" {
		return
	}
	remote, err := s.openRedisOutbox(ctx, j.bolt)
	if err != nil {
		s.log.Error("outbox: Redis unreachable at start-up; queueing on the local store until the next start", "error", err)
		j.backend = "bolt (redis unreachable at start-up)"
		return
	}
	j.store, j.local, j.backend = remote, j.bolt, "redis"
}

// Store is the outbox store, for reading jobs (a handler looking up an
// earlier job's result through Store.Interaction). Enqueue through jobs.
func (j *jobs) Store() outbox.Store { return j.store }

// Enqueue stores a job durably and wakes the dispatcher (see
// outbox.Dispatcher.Enqueue).
func (j *jobs) Enqueue(ctx context.Context, job outbox.Job) (outbox.Job, bool, error) {
	if j.d == nil {
		return outbox.Job{}, false, errOutboxNotStarted
	}
	if job.Origin == (outbox.Origin{}) {
		job.Origin = j.origin(ctx)
	}
	return j.d.Enqueue(ctx, job)
}

// Lag is how far the dispatcher runs behind its due jobs (see
// outbox.Dispatcher.Lag); 0 before it is bound.
func (j *jobs) Lag() time.Duration {
	if j.d == nil {
		return 0
	}
	return j.d.Lag()
}

// List, Get, Replay and Purge are the admin API's view of the outbox.
// Their errors about a job are holdline errors (see jobError).
func (j *jobs) List(ctx context.Context, f outbox.Filter) ([]outbox.Job, string, error) {
	return j.store.List(ctx, f)
}

func (j *jobs) Get(ctx context.Context, id string) (outbox.Job, error) {
	job, err := j.store.Get(ctx, id)
	return job, jobError(id, err)
}

// Replay makes a job due now and wakes the dispatcher.
func (j *jobs) Replay(ctx context.Context, id string) (outbox.Job, error) {
	if j.d == nil {
		return outbox.Job{}, errOutboxNotStarted
	}
	job, err := j.d.Replay(ctx, id)
	return job, jobError(id, err)
}

// ReplayTo re-homes the record of job id's interaction on endpoint to
// (interactions.Service.MoveRecord: the record is re-created there before
// any held write goes there), then replays the job; a job running now is
// left to its run, which sees the move.
func (j *jobs) ReplayTo(ctx context.Context, id, to, reason string) (outbox.Job, error) {
	job, err := j.replayTo(ctx, id, to, reason)
	return job, jobError(id, err)
}

func (j *jobs) replayTo(ctx context.Context, id, to, reason string) (outbox.Job, error) {
	if j.d == nil {
		return outbox.Job{}, errOutboxNotStarted
	}
	job, err := j.store.Get(ctx, id)
	if err != nil {
		return outbox.Job{}, err
	}
	if job.InteractionID == "" {
		return outbox.Job{}, fmt.Errorf("%w: job %s belongs to no interaction", interactions.ErrNoRecord, id)
	}
	if err := j.svc.MoveRecord(ctx, job.InteractionID, to, reason); err != nil {
		return outbox.Job{}, err
	}
	replayed, err := j.d.Replay(ctx, id)
	if errors.Is(err, outbox.ErrInflight) {
		// A held job runs again every pause delay; this run sees the move.
		return job, nil
	}
	return replayed, err
}

// Purge deletes done or dead jobs and wakes the dispatcher: purging a dead
// job releases the jobs it held.
func (j *jobs) Purge(ctx context.Context, state outbox.State, olderThan time.Time) (int, error) {
	n, err := j.store.Purge(ctx, state, olderThan)
	if n > 0 && j.d != nil {
		j.d.Notify()
	}
	return n, err
}

// Stats counts jobs per state.
func (j *jobs) Stats(ctx context.Context) (outbox.Stats, error) { return j.store.Stats(ctx) }

// bindDispatcher builds the dispatcher with handlers (its Paused follows
// each dependency's breaker; OnFinish and OnRetry tell svc, and svc reads
// its Lag through jobs) and registers it as a runner. It runs until Stop,
// before the store closes.
func (s *Sidecar) bindDispatcher(handlers map[string]outbox.Handler, svc *interactions.Service) error {
	j, oc := s.jobs, s.cfg.Outbox
	d, err := outbox.NewDispatcher(j.store, traceJobs(handlers, s.tracing), s.log, outbox.DispatcherConfig{
		Workers:    oc.Workers,
		Backoff:    oc.Backoff,
		Retention:  oc.Retention.D(),
		Paused:     j.paused(s.deps),
		OnFinish:   svc.Finished,
		OnRetry:    svc.Retried,
		Registerer: s.reg,
	})
	if err != nil {
		return err
	}
	j.d, j.svc = d, svc
	s.runners = append(s.runners, d.Run)
	return nil
}

// paused is the dispatcher's Paused: a dependency is paused while its
// breaker refuses calls, and a spooled upload also while another sidecar
// owns its bytes.
func (j *jobs) paused(deps *resilience.Set) func(dep string) bool {
	return func(dep string) bool {
		if owner, ok := timeline.SpoolOwner(dep); ok {
			// A spooled upload: only its owner has the bytes.
			if owner != j.owner {
				return true
			}
			dep = "blob"
		}
		d := deps.Get(dep)
		return d != nil && !d.BreakerAllows()
	}
}

// ready is the readiness check: the store is open and answers a read.
// (Readiness checks take no ctx; a bolt read does not block.)
func (j *jobs) ready() error {
	if j.backend == "redis" {
		// Fleet mode: the local fallback store is open (OpenBolt succeeded);
		// Redis being away is an upstream problem, not unreadiness.
		return nil
	}
	if _, err := j.store.Get(context.Background(), "readyz"); err != nil && !errors.Is(err, outbox.ErrNotFound) {
		return err
	}
	return nil
}

// deadJobs reports whether jobs wait for an operator (the sidecar is
// degraded until they are replayed or purged).
func (j *jobs) deadJobs(ctx context.Context) bool {
	st, err := j.store.Stats(ctx)
	return err == nil && st.Dead > 0
}

// openRedisOutbox opens the fleet outbox on Redis Streams, with local as
// the durable fallback while Redis is unreachable (jobs are forwarded when
// it returns). It warns when Redis is not persisting.
func (s *Sidecar) openRedisOutbox(ctx context.Context, local *outbox.BoltStore) (outbox.Store, error) {
	r := s.cfg.Outbox.Redis
	// Enqueues wait for Redis's fsync (appendfsync always): allow more
	// than the cache's tight timeout.
	rdb := s.redisClient(r, 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for _, w := range outbox.CheckPersistence(ctx, rdb) {
		s.log.Warn("outbox redis: "+w, "addr", r.Addr)
	}
	remote, err := outbox.OpenRedis(ctx, rdb, outbox.RedisOptions{Logger: s.log, ClaimIdle: s.cfg.Outbox.ClaimIdle.D()})
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("sidecar: outbox on redis %s: %w", r.Addr, err)
	}
	store := outbox.NewFallback(remote, local, outbox.FallbackOptions{Logger: s.log})
	// The local store has its closer already (openOutbox).
	s.closers = append(s.closers, rdb.Close, remote.Close)
	s.runners = append(s.runners, store.Run)
	return store, nil
}
