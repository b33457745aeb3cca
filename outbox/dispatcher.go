package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/config"
)

// DispatcherConfig holds the Dispatcher's knobs. Zero fields take the
// defaults given.
type DispatcherConfig struct {
	// Workers bounds how many jobs run at once. Default 8.
	Workers int
	// Backoff shapes retries of failed jobs: the delay starts at Initial,
	// grows x1.5 per failure up to Max, is jittered ±50%, and a job whose
	// next attempt would come more than MaxElapsed after its first failure
	// goes dead. Defaults 1s, 5m, 24h.
	Backoff config.Backoff
	// Retention is how long done jobs are kept before the sweep purges
	// them. Default 7 days. Dead jobs are never purged by the sweep.
	Retention time.Duration
	// Paused reports whether a dependency should not be called now,
	// typically because its circuit breaker is open. Jobs for it are not
	// claimed and spend no attempts. It is called inside the store's write
	// transaction, so it must be fast. Nil means never paused.
	Paused func(dependency string) bool
	// PauseDelay is how long a job whose handler returned ErrPaused or
	// ErrHeld waits before it is due again. Default 1s.
	PauseDelay time.Duration
	// PollInterval is how often the store is asked for due jobs when
	// nothing wakes the dispatcher: it bounds how late a retry or a resumed
	// dependency is noticed. Enqueue and finished jobs wake it at once.
	// Default 1s.
	PollInterval time.Duration
	// SweepInterval is how often done jobs past Retention are purged.
	// Default 1h.
	SweepInterval time.Duration
	// StatsInterval is how often the depth gauges are refreshed.
	// Default 15s.
	StatsInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Registerer receives the holdline_outbox_* metrics. Nil registers
	// nothing.
	Registerer prometheus.Registerer
	// OnFinish, when set, is called after a job's outcome is stored and
	// the job is done (State Done, Result set) or dead (State Dead,
	// LastError set); it is not called for retries or pauses. It runs on
	// the worker's goroutine, so it must be fast and must not block:
	// callers waiting for a job (a synchronous write within its budget)
	// use it as a completion notification instead of polling the store.
	OnFinish func(Job)
	// OnRetry, when set, is called after a failed or refused run is stored
	// and the job waits again (State Pending or Held, NextAttemptAt when it
	// is due again, LastError set); it is not called for dead jobs (see
	// OnFinish). Like OnFinish it runs on the worker's goroutine and must
	// not block: a write waiting for the job learns that it will not
	// finish before its next attempt.
	OnRetry func(Job)
}

// Dispatcher runs jobs from a Store through handlers registered per kind,
// with a bounded pool of workers, one job at a time per interaction,
// backoff between attempts and pauses while a dependency is unavailable.
// Its methods are safe for concurrent use; Run may be called once at a
// time.
type Dispatcher struct {
	store    Store
	handlers map[string]Handler
	log      *slog.Logger
	cfg      DispatcherConfig
	m        *metrics
	wake     chan struct{}
	running  atomic.Bool
	// behind is the due time (Unix nanoseconds) of the last job of a
	// claim that filled every free worker, 0 after a claim that came back
	// short; see Lag.
	behind atomic.Int64
}

// NewDispatcher returns a Dispatcher for store with handlers keyed by
// Job.Kind. It returns every problem with its arguments at once, and an
// error if the metrics cannot be registered (for example twice on one
// Registerer). A nil log discards.
func NewDispatcher(store Store, handlers map[string]Handler, log *slog.Logger, cfg DispatcherConfig) (*Dispatcher, error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("outbox: dispatcher: store is nil"))
	}
	hs := make(map[string]Handler, len(handlers))
	for kind, h := range handlers {
		if h == nil {
			errs = append(errs, fmt.Errorf("outbox: dispatcher: handler for %q is nil", kind))
		}
		hs[kind] = h
	}
	if cfg.Workers < 0 {
		errs = append(errs, fmt.Errorf("outbox: dispatcher: workers %d is negative", cfg.Workers))
	}
	defaults(&cfg)
	if cfg.Backoff.Initial > cfg.Backoff.Max {
		errs = append(errs, fmt.Errorf("outbox: dispatcher: backoff initial %s is above max %s", cfg.Backoff.Initial, cfg.Backoff.Max))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{store: store, handlers: hs, log: log, cfg: cfg, wake: make(chan struct{}, 1)}
	m, err := newMetrics(cfg.Registerer, func() float64 { return d.Lag().Seconds() })
	if err != nil {
		return nil, fmt.Errorf("outbox: dispatcher: register metrics: %w", err)
	}
	d.m = m
	return d, nil
}

func defaults(c *DispatcherConfig) {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setCfg := func(d *config.Duration, v time.Duration) {
		if *d <= 0 {
			*d = config.Duration(v)
		}
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	setCfg(&c.Backoff.Initial, time.Second)
	setCfg(&c.Backoff.Max, 5*time.Minute)
	setCfg(&c.Backoff.MaxElapsed, 24*time.Hour)
	setDur(&c.Retention, 7*24*time.Hour)
	setDur(&c.PauseDelay, time.Second)
	setDur(&c.PollInterval, time.Second)
	setDur(&c.SweepInterval, time.Hour)
	setDur(&c.StatsInterval, 15*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Paused == nil {
		c.Paused = func(string) bool { return false }
	}
}

// Enqueue stores a job through the Store (see Store.Enqueue for
// idempotency and durability) and wakes the dispatcher so the job runs
// without waiting for a poll. A Kind without a handler is ErrInvalid.
func (d *Dispatcher) Enqueue(ctx context.Context, j Job) (job Job, created bool, err error) {
	if _, ok := d.handlers[j.Kind]; !ok {
		return Job{}, false, fmt.Errorf("outbox: enqueue: %w: no handler for kind %q", ErrInvalid, j.Kind)
	}
	job, created, err = d.store.Enqueue(ctx, j)
	if err != nil {
		return Job{}, false, err
	}
	if created {
		d.m.enqueued.WithLabelValues(j.Kind).Inc()
		d.Notify()
	}
	return job, created, nil
}

// Lag is how far the dispatcher runs behind its due jobs: how long ago the
// latest-due job it started became due, while every worker is busy since
// (its last claim filled them all, so due jobs may wait for one); 0 when
// its last claim found every due job a worker. It grows with the clock
// while no worker frees up (a hanging dependency holding them all). Claim
// takes the earliest due first, so a job due now is started after about
// Lag when the backlog drains as fast as jobs arrive, sooner when it
// drains faster: a write compares Lag with its budget and answers at once
// rather than wait for a job that will not run in time
// (internal/interactions). Lag reads one atomic kept by the claim loop and
// never asks the store, so every request can afford it.
func (d *Dispatcher) Lag() time.Duration {
	b := d.behind.Load()
	if b == 0 {
		return 0
	}
	return max(0, d.cfg.Now().Sub(time.Unix(0, b)))
}

// noteClaim keeps Lag after a claim of up to asked jobs: one that came
// back short found every due job; one that filled every free worker may
// have left due jobs waiting, due no earlier than the last job claimed.
func (d *Dispatcher) noteClaim(jobs []Job, asked int) {
	if len(jobs) < asked {
		d.behind.Store(0)
		return
	}
	d.behind.Store(jobs[len(jobs)-1].NextAttemptAt.UnixNano())
}

// Replay replays a job through the Store (see Store.Replay) and wakes the
// dispatcher.
func (d *Dispatcher) Replay(ctx context.Context, id string) (Job, error) {
	j, err := d.store.Replay(ctx, id)
	if err != nil {
		return Job{}, err
	}
	d.Notify()
	return j, nil
}

// Notify wakes the dispatcher to claim due jobs now. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run first makes jobs left inflight by a previous process pending again
// (Store.RecoverInflight), then claims and runs jobs until ctx is done. It
// returns after every worker and the sweep have stopped; handlers see ctx
// canceled, and their jobs are put back without spending an attempt. Run
// returns nil on cancellation and an error only if recovery fails.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("outbox: dispatcher: already running")
	}
	defer d.running.Store(false)
	n, err := d.store.RecoverInflight(ctx)
	if err != nil {
		return fmt.Errorf("outbox: dispatcher: %w", err)
	}
	if n > 0 {
		d.log.Info("outbox: recovered jobs left inflight", "jobs", n)
	}
	var wg sync.WaitGroup
	wg.Go(func() { d.maintain(ctx) })
	d.dispatch(ctx, &wg)
	wg.Wait()
	return nil
}

// dispatch claims as many jobs as there are free workers whenever it is
// woken (Enqueue, Replay, a finished job) or the poll ticker fires.
func (d *Dispatcher) dispatch(ctx context.Context, wg *sync.WaitGroup) {
	busy := make(chan struct{}, d.cfg.Workers) // one token per running job
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	for {
		if free := cap(busy) - len(busy); free > 0 {
			jobs, err := d.store.Claim(ctx, d.cfg.Now(), free, d.cfg.Paused)
			if err != nil && ctx.Err() == nil {
				d.log.Error("outbox: claim jobs", "error", err)
			}
			if err == nil {
				d.noteClaim(jobs, free)
			}
			for _, j := range jobs {
				busy <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-busy
						d.Notify()
					}()
					d.run(ctx, j)
				})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-poll.C:
		}
	}
}

// run runs one claimed job and records its outcome.
func (d *Dispatcher) run(ctx context.Context, j Job) {
	log := d.log.With("job_id", j.ID, "kind", j.Kind, "interaction_id", j.InteractionID, "attempt", j.Attempts+1)
	// The outcome is recorded even if ctx ends meanwhile (shutdown): a
	// finished job whose outcome is lost would run again.
	rctx := context.WithoutCancel(ctx)
	h := d.handlers[j.Kind]
	if h == nil {
		d.bury(rctx, log, j, fmt.Errorf("no handler for kind %q", j.Kind))
		return
	}
	if d.cfg.Paused(j.Dependency) { // paused between Claim and now
		d.retry(rctx, log, j, Failure{Err: "dependency paused", Uncounted: true})
		return
	}
	res, err := call(ctx, h, j)
	if err == nil && len(res) > 0 && !json.Valid(res) {
		err = Permanent(errors.New("handler returned a result that is not JSON"))
	}
	now := d.cfg.Now()
	switch {
	case err == nil:
		if err := d.store.Complete(rctx, j.ID, res); err != nil {
			log.Error("outbox: record success", "error", err)
			return
		}
		d.m.completed.WithLabelValues(j.Kind).Inc()
		j.State, j.Result, j.Attempts, j.UpdatedAt = Done, res, j.Attempts+1, now
		d.finished(j)
	case ctx.Err() != nil:
		d.retry(rctx, log, j, Failure{Err: "interrupted: " + err.Error(), Uncounted: true})
	case errors.Is(err, ErrHeld):
		log.Info("outbox: job held", "reason", err)
		d.retry(rctx, log, j, Failure{Err: err.Error(), Uncounted: true, Held: true, RetryAt: now.Add(d.cfg.PauseDelay)})
	case errors.Is(err, ErrPaused):
		log.Debug("outbox: dependency paused", "error", err)
		d.retry(rctx, log, j, Failure{Err: err.Error(), Uncounted: true, RetryAt: now.Add(d.cfg.PauseDelay)})
	case isPermanent(err):
		d.m.failures.WithLabelValues(j.Kind).Inc()
		d.bury(rctx, log, j, err)
	default:
		d.m.failures.WithLabelValues(j.Kind).Inc()
		first := j.FirstFailedAt
		if first.IsZero() {
			first = now
		}
		delay, stop := retryDelay(d.cfg.Backoff, j.Attempts+1, first, now)
		if stop {
			d.bury(rctx, log, j, fmt.Errorf("retry budget %s spent: %w", d.cfg.Backoff.MaxElapsed, err))
			return
		}
		if ra := retryAfter(err); ra > delay {
			// The dependency said when to come back (429/503 Retry-After):
			// not before, but never later than the backoff's max.
			delay = min(ra, d.cfg.Backoff.Max.D())
		}
		log.Info("outbox: job failed, will retry", "error", err, "retry_in", delay)
		d.retry(rctx, log, j, Failure{Err: err.Error(), RetryAt: now.Add(delay)})
	}
}

// RetryDelayer is implemented by errors that carry a dependency's
// Retry-After (upstream.StatusError): a handler error wrapping one is
// retried no sooner than RetryDelay, capped by Backoff.Max.
type RetryDelayer interface {
	error
	RetryDelay() time.Duration
}

// retryAfter is the Retry-After carried by err, 0 when none.
func retryAfter(err error) time.Duration {
	if rd, ok := errors.AsType[RetryDelayer](err); ok {
		return rd.RetryDelay()
	}
	return 0
}

// call runs h, turning a panic into an error.
func call(ctx context.Context, h Handler, j Job) (res json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(ctx, &j)
}

func (d *Dispatcher) bury(ctx context.Context, log *slog.Logger, j Job, err error) {
	if d.fail(ctx, log, j, Failure{Err: err.Error(), Dead: true}) {
		d.m.dead.WithLabelValues(j.Kind).Inc()
		log.Warn("outbox: job dead; later jobs of its interaction are held until it is replayed", "error", err)
		j.State, j.LastError, j.UpdatedAt = Dead, truncate(err.Error(), maxLastErrorLen), d.cfg.Now()
		d.finished(j)
	}
}

// finished calls DispatcherConfig.OnFinish, if any, with the outcome
// applied to the claimed copy of the job.
func (d *Dispatcher) finished(j Job) {
	if d.cfg.OnFinish != nil {
		d.cfg.OnFinish(j)
	}
}

// retry records a failed or refused run after which the job waits again,
// and calls DispatcherConfig.OnRetry, if any, with the job as stored.
func (d *Dispatcher) retry(ctx context.Context, log *slog.Logger, j Job, f Failure) {
	if !d.fail(ctx, log, j, f) || d.cfg.OnRetry == nil {
		return
	}
	now := d.cfg.Now()
	if !f.Uncounted {
		j.Attempts++
		if j.FirstFailedAt.IsZero() {
			j.FirstFailedAt = now
		}
	}
	j.State, j.NextAttemptAt, j.LastError, j.UpdatedAt = Pending, now, truncate(f.Err, maxLastErrorLen), now
	if f.Held {
		j.State = Held
	}
	if !f.RetryAt.IsZero() {
		j.NextAttemptAt = f.RetryAt
	}
	d.cfg.OnRetry(j)
}

func (d *Dispatcher) fail(ctx context.Context, log *slog.Logger, j Job, f Failure) bool {
	if err := d.store.Fail(ctx, j.ID, f); err != nil {
		log.Error("outbox: record failure", "error", err, "failure", f.Err)
		return false
	}
	return true
}

// maintain refreshes the gauges and purges done jobs past retention.
func (d *Dispatcher) maintain(ctx context.Context) {
	stats := time.NewTicker(d.cfg.StatsInterval)
	defer stats.Stop()
	sweep := time.NewTicker(d.cfg.SweepInterval)
	defer sweep.Stop()
	d.updateStats(ctx)
	d.sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stats.C:
			d.updateStats(ctx)
		case <-sweep.C:
			d.sweep(ctx)
		}
	}
}

func (d *Dispatcher) sweep(ctx context.Context) {
	n, err := d.store.Purge(ctx, Done, d.cfg.Now().Add(-d.cfg.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.Error("outbox: purge done jobs", "error", err)
	case n > 0:
		d.log.Info("outbox: purged done jobs past retention", "jobs", n, "retention", d.cfg.Retention)
	}
}

func (d *Dispatcher) updateStats(ctx context.Context) {
	st, err := d.store.Stats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("outbox: stats", "error", err)
		}
		return
	}
	for state, n := range map[string]int{
		"pending": st.Pending, "inflight": st.Inflight, "dead": st.Dead, "done": st.Done, "blocked": st.Blocked, "held": st.Held,
	} {
		d.m.depth.WithLabelValues(state).Set(float64(n))
	}
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = max(0, d.cfg.Now().Sub(st.OldestPending).Seconds())
	}
	d.m.oldestPending.Set(age)
}
