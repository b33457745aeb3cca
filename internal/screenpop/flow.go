package screenpop

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/cache"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/phone"
	"github.com/holdline/holdline/internal/resilience"
)

// Sources of a Result.
const (
	SourceCRM     = "crm"     // the CRM answered within the budget
	SourceCache   = "cache"   // a fresh cache entry
	SourceStale   = "stale"   // an expired entry, because the CRM did not answer
	SourceMinimal = "minimal" // nothing known: E.164 only
)

// Result is a screen pop. Contact and Records may be shared with the
// cache and other results: treat them as read-only.
type Result struct {
	// E164 is the caller's number.
	E164 string `json:"e164"`
	// Contact is nil when the CRM does not know the number, or for a
	// minimal answer.
	Contact *crm.Contact `json:"contact"`
	// Records are the contact's open records; never nil.
	Records []crm.Record `json:"records"`
	// Source is one of the Source constants.
	Source string `json:"source"`
	// Degraded is true for stale and minimal answers.
	Degraded bool `json:"degraded"`
	// Reasons say why an answer is degraded, e.g. "crm: circuit open".
	// They are safe to show to clients.
	Reasons []string `json:"reasons,omitempty"`
	// AgeMS is how old the data is, in milliseconds (0 from the CRM).
	AgeMS int64 `json:"age_ms"`
}

// Options are the optional parts of a Flow.
type Options struct {
	// Logger receives degraded answers at debug level. Default: discard.
	Logger *slog.Logger
	// Registerer receives the screen-pop metrics. Default: none.
	Registerer prometheus.Registerer
	// Now is the clock for cache freshness. Default time.Now. Budgets use
	// the runtime's clock (context deadlines) whatever Now says.
	Now func() time.Time
	// LookupTimeout bounds one shared CRM lookup, which may outlive the
	// pop that started it (see Pop). The CRM dependency's own timeout
	// usually ends it sooner. Default 3s, and never less than the budget.
	LookupTimeout time.Duration
	// RefreshWorkers is the number of background refreshes Run performs
	// at once. Default 4.
	RefreshWorkers int
	// RefreshQueue bounds the refreshes waiting for a worker; more are
	// dropped (the next stale answer or late hit asks again). Default 1024.
	RefreshQueue int
}

// Flow answers screen pops. It is safe for concurrent use. Run must be
// running for background refreshes to happen; Pop works without it.
type Flow struct {
	cache         *cache.Cache
	crm           crm.Client
	dep           *resilience.Dependency
	now           func() time.Time
	log           *slog.Logger
	m             *metrics
	budget        time.Duration // of the whole pop
	wait          time.Duration // budget minus the margin to assemble the answer
	lookupTimeout time.Duration
	refreshAfter  time.Duration // RefreshAhead * FreshTTL
	workers       int

	flight singleflight.Group
	idle   chan func()   // shared lookups for a waiting sharedWorker
	quit   chan struct{} // closed when Run returns: sharedWorkers exit
	pooled atomic.Bool   // Run is running: goShared may leave workers waiting

	queue   chan string
	pmu     sync.Mutex
	pending map[string]struct{} // numbers queued or being refreshed

	gmu     sync.Mutex
	stopped bool           // Run has returned or is returning: no new background work
	bg      sync.WaitGroup // shared lookups in flight
}

// New returns a Flow that answers from c and, on a miss, asks crmClient
// through crmDep's policy chain. cfg.Budget bounds every Pop; cc gives the
// refresh-ahead point. New panics if opts.Registerer already holds the
// flow's metrics (a wiring bug).
func New(c *cache.Cache, crmClient crm.Client, crmDep *resilience.Dependency, cfg config.ScreenPop, cc config.Cache, opts Options) *Flow {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	budget := cfg.Budget.D()
	if budget <= 0 {
		budget = 300 * time.Millisecond
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = 3 * time.Second
	}
	opts.LookupTimeout = max(opts.LookupTimeout, budget)
	if opts.RefreshWorkers <= 0 {
		opts.RefreshWorkers = 4
	}
	if opts.RefreshQueue <= 0 {
		opts.RefreshQueue = 1024
	}
	return &Flow{
		cache:         c,
		crm:           crmClient,
		dep:           crmDep,
		now:           opts.Now,
		log:           opts.Logger,
		m:             newMetrics(opts.Registerer),
		budget:        budget,
		wait:          budget - margin(budget),
		lookupTimeout: opts.LookupTimeout,
		refreshAfter:  time.Duration(cc.RefreshAhead * float64(cc.FreshTTL.D())),
		workers:       opts.RefreshWorkers,
		idle:          make(chan func()),
		quit:          make(chan struct{}),
		queue:         make(chan string, opts.RefreshQueue),
		pending:       make(map[string]struct{}),
	}
}

// margin is the part of the budget kept to assemble and send the answer
// after the CRM wait ends: a tenth, at most 10ms.
func margin(budget time.Duration) time.Duration {
	return min(budget/10, 10*time.Millisecond)
}

// Pop returns the screen pop for n. It returns within the budget whatever
// the cache and the CRM do, and never fails: a CRM that cannot answer in
// time makes the result stale or minimal, Degraded, with a reason. It
// returns early, degraded, if ctx ends first.
func (f *Flow) Pop(ctx context.Context, n phone.Number) Result {
	start := time.Now()
	key := n.E164()

	// Hot path: a fresh L1 hit, no I/O, no allocation.
	if e, ok := f.cache.GetFresh(key); ok {
		now := f.now()
		f.refreshAhead(key, e, now)
		return f.done(start, fromEntry(key, e, SourceCache, now))
	}

	ctx, cancel := context.WithTimeout(ctx, f.wait)
	defer cancel()

	e, cached := f.cache.Get(ctx, key) // L1 again, then Redis
	if now := f.now(); cached && e.Fresh(now) {
		f.refreshAhead(key, e, now)
		return f.done(start, fromEntry(key, e, SourceCache, now))
	}

	var err error
	if f.dep.BreakerAllows() {
		var l crm.Lookup
		if l, err = f.lookup(ctx, key); err == nil {
			return f.done(start, Result{E164: key, Contact: l.Contact, Records: l.Records, Source: SourceCRM})
		}
	} else {
		// The chain would refuse the call too; answering here spares a
		// shared call (and its goroutine) per pop during an outage.
		err = circuitbreaker.ErrOpen
	}

	reason := resilience.Reason("crm", err)
	var r Result
	if cached {
		r = fromEntry(key, e, SourceStale, f.now())
		f.enqueueRefresh(key)
	} else {
		r = Result{E164: key, Records: []crm.Record{}, Source: SourceMinimal}
	}
	r.Degraded = true
	r.Reasons = []string{reason}
	f.log.LogAttrs(ctx, slog.LevelDebug, "screen pop degraded",
		slog.Any("number", n), slog.String("source", r.Source), slog.String("reason", reason))
	return f.done(start, r)
}

// Reasons for a pop without a usable caller number.
const (
	ReasonNoNumber          = "no caller number"
	ReasonUnparseableNumber = "unparseable caller number"
)

// Unknown answers a pop whose caller number is withheld or unparseable:
// minimal and Degraded with reason (ReasonNoNumber or
// ReasonUnparseableNumber), at once and without asking the CRM, so a
// caller id never blocks routing. It is counted like any minimal pop.
func (f *Flow) Unknown(reason string) Result {
	return f.done(time.Now(), Result{Records: []crm.Record{}, Source: SourceMinimal, Degraded: true, Reasons: []string{reason}})
}

func fromEntry(key string, e cache.Entry, source string, now time.Time) Result {
	return Result{
		E164:    key,
		Contact: e.Lookup.Contact,
		Records: e.Lookup.Records,
		Source:  source,
		AgeMS:   now.Sub(e.FetchedAt).Milliseconds(),
	}
}

func (f *Flow) done(start time.Time, r Result) Result {
	f.m.count(r.Source)
	f.m.duration.Observe(time.Since(start).Seconds())
	return r
}

// lookup asks the CRM for key through the shared call for key, waiting
// for it only until ctx (the caller's budget) ends.
func (f *Flow) lookup(ctx context.Context, key string) (crm.Lookup, error) {
	ch := make(chan singleflight.Result, 1)
	f.goShared(func() {
		v, err, _ := f.flight.Do(key, func() (any, error) {
			return f.fetch(ctx, key, false)
		})
		ch <- singleflight.Result{Val: v, Err: err}
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return crm.Lookup{}, r.Err
		}
		return r.Val.(crm.Lookup), nil
	case <-ctx.Done():
		return crm.Lookup{}, fmt.Errorf("screen pop: crm lookup: %w", context.Cause(ctx))
	}
}

// idleWorker is how long a sharedWorker waits for another lookup.
const idleWorker = time.Second

// goShared runs fn, a shared lookup, on a goroutine of its own: one that
// finished a lookup and waits for another, or else a new one. Reusing
// them spares each miss a new goroutine whose stack grows, copied at
// each step, to the depth of an HTTP call (singleflight's DoChan starts
// one per call). It never blocks.
func (f *Flow) goShared(fn func()) {
	if !f.pooled.Load() {
		// Without Run, nothing would end a waiting worker.
		go fn()
		return
	}
	select {
	case f.idle <- fn:
	default:
		go f.sharedWorker(fn)
	}
}

// sharedWorker runs fn, then each lookup goShared hands it while it
// waits, and returns once idleWorker passes without one or Run returns.
func (f *Flow) sharedWorker(fn func()) {
	t := time.NewTimer(idleWorker)
	defer t.Stop()
	for {
		fn()
		t.Reset(idleWorker)
		select {
		case fn = <-f.idle:
		case <-t.C:
			return
		case <-f.quit:
			return
		}
	}
}

// fetch is the one CRM call shared by every caller waiting for key. It runs
// on a sharedWorker (or, for a refresh, singleflight's goroutine) and
// stores a successful answer in the cache before it returns. With force
// false it first rechecks L1: a caller that missed the cache just before
// the previous shared call stored its answer then reuses it instead of
// calling the CRM again.
//
// The shared call is detached from ctx's cancellation on purpose
// (context.WithoutCancel keeps its values, such as the request id): ctx
// belongs to whichever caller happened to start the call, and if that
// caller's budget or connection ended first, cancelling would fail every
// other caller still waiting with more budget left, and throw away an
// answer that would fill the cache. lookupTimeout bounds it instead, and
// Run waits for it on shutdown.
func (f *Flow) fetch(ctx context.Context, key string, force bool) (crm.Lookup, error) {
	if !force {
		if e, ok := f.cache.Peek(key); ok && e.Fresh(f.now()) {
			return e.Lookup, nil
		}
	}
	if f.track() {
		defer f.bg.Done()
		// The lookup's own deadline even when it is longer than the CRM's
		// policy timeout: that bounds one call, and a lookup may make
		// several (the generic kind asks for the contact, then its
		// records).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), f.lookupTimeout)
		defer cancel()
	}
	// else: Run has returned, nobody would wait for a detached call, so it
	// stays bound to its caller's budget.
	l, err := resilience.Read(ctx, f.dep, "lookup", func(ctx context.Context) (crm.Lookup, error) {
		return f.crm.FindByPhone(ctx, key)
	})
	if err != nil {
		return crm.Lookup{}, err
	}
	e := f.cache.NewEntry(l, f.now())
	f.cache.Set(key, e)
	return e.Lookup, nil
}

// track registers one detached call for Run to wait for. It reports false
// once Run is stopping.
func (f *Flow) track() bool {
	f.gmu.Lock()
	defer f.gmu.Unlock()
	if f.stopped {
		return false
	}
	f.bg.Add(1)
	return true
}
