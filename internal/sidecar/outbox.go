package sidecar

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/outbox"
)

// jobs is the sidecar's outbox while it is built and run. openOutbox opens
// the store; features then register handlers for their job kinds (Handle)
// and finish listeners (OnFinish) and keep jobs as their queue; startOutbox
// builds the one Dispatcher that runs every kind. The dispatcher is the
// only path by which holdline writes to the CRM or uploads from the spool.
//
// Enqueue, Replay and Purge are safe for concurrent use once startOutbox
// has returned; Handle and OnFinish are for New only.
type jobs struct {
	store outbox.Store
	// local is the fallback store in fleet mode (nil otherwise): it holds
	// the jobs accepted while Redis was unreachable.
	local outbox.Store
	// owner is this sidecar's id (see loadOwner).
	owner string
	// spool is the recording spool, once buildRecordings has opened it.
	spool     *blob.Spool
	backend   string
	records   *interactions.Records
	svc       *interactions.Service
	handlers  map[string]outbox.Handler
	listeners []func(outbox.Job)
	d         *outbox.Dispatcher
}

// errOutboxNotStarted is returned by Enqueue before startOutbox.
var errOutboxNotStarted = errors.New("sidecar: outbox dispatcher not started")

// openOutbox opens the store at {data_dir}/outbox.db (bolt; ErrLocked
// after outbox.lock_timeout when another process holds it), registers its
// closer and readiness check, and registers the CRM write handlers.
func (s *Sidecar) openOutbox() (*jobs, error) {
	local, err := outbox.OpenBolt(filepath.Join(s.cfg.DataDir, "outbox.db"), outbox.BoltOptions{
		LockTimeout: 5 * time.Second, // a restart may race the previous process's exit
		Registerer:  s.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("sidecar: %w", err)
	}
	owner, err := loadOwner(s.cfg.DataDir)
	if err != nil {
		local.Close()
		return nil, err
	}
	var store, fallback outbox.Store = local, nil
	backend := s.cfg.Outbox.Backend
	if backend == "redis" {
		remote, err := s.openRedisOutbox(local)
		if err != nil {
			// Static stability: a sidecar must start while Redis is away.
			// It queues on its own disk until a restart finds Redis; the
			// fallback store then forwards those jobs to the fleet.
			s.log.Error("outbox: Redis unreachable at start-up; queueing on the local store until the next start", "error", err)
			backend = "bolt (redis unreachable at start-up)"
		} else {
			store, fallback = remote, local
		}
	}
	s.closers = append(s.closers, store.Close)
	records, err := s.crmRecords(store)
	if err != nil {
		return nil, err
	}
	j := &jobs{store: store, local: fallback, owner: owner, backend: backend, records: records, handlers: interactions.Handlers(records)}
	s.jobs = j
	return j, nil
}

// crmRecords builds one CRM adapter per configured endpoint, each bound to
// its endpoint's URL (writes follow their record, not the active
// endpoint), and the Records that route writes between them.
func (s *Sidecar) crmRecords(store outbox.Store) (*interactions.Records, error) {
	cfg := s.cfg.Dependencies.CRM
	crmDep := s.deps.Get("crm")
	clients := map[string]crm.Client{}
	for name, url := range map[string]string{interactions.Primary: cfg.Endpoints.Primary, interactions.Secondary: cfg.Endpoints.Secondary} {
		if url == "" {
			continue
		}
		c, err := crm.New(cfg, crmDep.HTTPClient(), func() string { return url })
		if err != nil {
			return nil, err
		}
		clients[name] = c
	}
	return interactions.NewRecords(store, interactions.Endpoints{
		Clients: clients, Active: crmDep.ActiveEndpoint, SharedRecords: cfg.SharedRecords,
	}, crmDep)
}

// Store is the outbox store, for reading jobs (a handler looking up an
// earlier job's result through Store.Interaction). Enqueue through jobs.
func (j *jobs) Store() outbox.Store { return j.store }

// Handle registers the handler of a job kind. It panics on a kind
// registered twice or after startOutbox: both are wiring mistakes.
func (j *jobs) Handle(kind string, h outbox.Handler) {
	if j.d != nil {
		panic("sidecar: outbox handler for " + kind + " registered after the dispatcher was built")
	}
	if _, dup := j.handlers[kind]; dup {
		panic("sidecar: outbox handler for " + kind + " registered twice")
	}
	j.handlers[kind] = h
}

// OnFinish registers f to be told of every job that is done or dead (see
// outbox.DispatcherConfig.OnFinish: it must not block).
func (j *jobs) OnFinish(f func(outbox.Job)) { j.listeners = append(j.listeners, f) }

// Enqueue stores a job durably and wakes the dispatcher (see
// outbox.Dispatcher.Enqueue).
func (j *jobs) Enqueue(ctx context.Context, job outbox.Job) (outbox.Job, bool, error) {
	if j.d == nil {
		return outbox.Job{}, false, errOutboxNotStarted
	}
	return j.d.Enqueue(ctx, job)
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

// startOutbox builds the dispatcher with every registered handler (its
// Paused follows each dependency's breaker) and the interactions service,
// and registers the dispatcher as a runner. It runs until Stop, before the
// store closes.
func (s *Sidecar) startOutbox(j *jobs) (*interactions.Service, error) {
	crmDep := s.deps.Get("crm")
	var svc *interactions.Service
	listeners := j.listeners
	oc := s.cfg.Outbox
	d, err := outbox.NewDispatcher(j.store, j.handlers, s.log, outbox.DispatcherConfig{
		Workers:   oc.Workers,
		Backoff:   oc.Backoff,
		Retention: oc.Retention.D(),
		Paused: func(dep string) bool {
			if owner, ok := strings.CutPrefix(dep, capture.SpoolDependencyPrefix); ok {
				// A spooled upload: only its owner has the bytes.
				if owner != j.owner {
					return true
				}
				dep = "blob"
			}
			dd := s.deps.Get(dep)
			return dd != nil && !dd.BreakerAllows()
		},
		OnFinish: func(job outbox.Job) {
			svc.Finished(job)
			for _, f := range listeners {
				f(job)
			}
		},
		Registerer: s.reg,
	})
	if err != nil {
		return nil, err
	}
	svc = interactions.New(j, j.store, crmDep, interactions.Options{WriteBudget: oc.WriteBudget.D(), Records: j.records})
	j.d, j.svc = d, svc
	s.runners = append(s.runners, d.Run)
	return svc, nil
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

// status is the "outbox" section of /v1/status.
func (j *jobs) status(ctx context.Context, now time.Time) any {
	st, err := j.store.Stats(ctx)
	if err != nil {
		return map[string]any{"error": "outbox unavailable"}
	}
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = max(0, now.Sub(st.OldestPending).Seconds())
	}
	return map[string]any{
		"backend":                    j.backend,
		"pending":                    st.Pending,
		"inflight":                   st.Inflight,
		"dead":                       st.Dead,
		"held":                       st.Held,
		"blocked":                    st.Blocked,
		"done":                       st.Done,
		"oldest_pending_age_seconds": age,
	}
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
func (s *Sidecar) openRedisOutbox(local *outbox.BoltStore) (outbox.Store, error) {
	r := s.cfg.Outbox.Redis
	// Enqueues wait for Redis's fsync (appendfsync always): allow more
	// than the cache's tight timeout.
	rdb := s.redisClient(r, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
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
	s.closers = append(s.closers, rdb.Close)
	s.runners = append(s.runners, store.Run)
	return store, nil
}
