package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

// Entry is one cached CRM lookup and the times that decide how it may be
// served. Entries are values: the Lookup's Contact and Records are shared
// between readers and must be treated as read-only.
type Entry struct {
	// Lookup is what the CRM answered, including "no such contact"
	// (a nil Contact), which is cached like any other answer.
	Lookup crm.Lookup `json:"lookup"`
	// FetchedAt is when the CRM answered.
	FetchedAt time.Time `json:"fetched_at"`
	// FreshUntil is when the entry stops being served without asking
	// the CRM: FetchedAt + cache.fresh_ttl.
	FreshUntil time.Time `json:"fresh_until"`
	// StaleUntil is when the entry stops being served at all, even
	// degraded: FetchedAt + cache.stale_ttl. Both tiers drop it then.
	StaleUntil time.Time `json:"stale_until"`
}

// Fresh reports whether e may be served as a normal answer at now.
func (e Entry) Fresh(now time.Time) bool { return now.Before(e.FreshUntil) }

// Usable reports whether e may be served at all (fresh or stale) at now.
func (e Entry) Usable(now time.Time) bool { return now.Before(e.StaleUntil) }

// Options are the optional parts of a Cache.
type Options struct {
	// Logger receives Redis write failures at debug level. Default: discard.
	Logger *slog.Logger
	// Registerer receives the cache metrics. Default: none registered.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// WriteQueue bounds the Redis writes waiting for a writer; more are
	// dropped (and counted). Default 1024.
	WriteQueue int
	// Writers is the number of goroutines Run starts to write to Redis.
	// Default 2.
	Writers int
}

// Cache is the two-tier contact cache. It is safe for concurrent use.
// Run must be running for entries to reach Redis; L1 works without it.
type Cache struct {
	cfg     config.Cache
	now     func() time.Time
	log     *slog.Logger
	l1      *otter.Cache[string, Entry]
	l2      *l2 // nil: L1 only
	m       *metrics
	writes  chan write
	writers int
	running sync.Mutex // held by Run, so only one Run at a time
}

type write struct {
	key string
	e   Entry
}

// New returns a Cache for cfg. l2, when not nil, is the shared Redis tier
// and redisDep the "redis" dependency whose policy chain and drill faults
// every Redis call goes through; l2 must have been created with
// ContextTimeoutEnabled, or a slow Redis could hold a caller past its
// deadline. New checks cfg and returns every problem at once.
func New(cfg config.Cache, l2c *redis.Client, redisDep *resilience.Dependency, opts Options) (*Cache, error) {
	var errs []error
	if cfg.MaxEntries <= 0 {
		errs = append(errs, errors.New("cache.max_entries: must be positive"))
	}
	if cfg.FreshTTL <= 0 {
		errs = append(errs, errors.New("cache.fresh_ttl: must be positive"))
	}
	if cfg.StaleTTL < cfg.FreshTTL {
		errs = append(errs, errors.New("cache.stale_ttl: must be at least cache.fresh_ttl"))
	}
	var tier *l2
	if l2c != nil {
		if !l2c.Options().ContextTimeoutEnabled {
			errs = append(errs, errors.New("cache.redis: the client must have ContextTimeoutEnabled, or Redis could hold a screen pop past its budget"))
		}
		if redisDep == nil {
			errs = append(errs, errors.New("cache.redis: needs the redis dependency's policies"))
		}
		t, err := newL2(l2c, redisDep, cfg.EncryptionKey, cfg.PreviousEncryptionKey)
		if err != nil {
			errs = append(errs, err)
		}
		tier = t
	} else if cfg.EncryptionKey.IsSet() {
		if _, err := parseKey(cfg.EncryptionKey); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WriteQueue <= 0 {
		opts.WriteQueue = 1024
	}
	if opts.Writers <= 0 {
		opts.Writers = 2
	}
	c := &Cache{
		cfg:     cfg,
		now:     opts.Now,
		log:     opts.Logger,
		l2:      tier,
		writes:  make(chan write, opts.WriteQueue),
		writers: opts.Writers,
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c.m = m
	l1, err := otter.New(&otter.Options[string, Entry]{
		MaximumSize: cfg.MaxEntries,
		// Physical expiry only frees memory; Get checks StaleUntil
		// against the injected clock itself.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, Entry]) time.Duration {
			return e.Value.StaleUntil.Sub(c.now())
		}),
		Logger: otterLogger{opts.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: l1: %w", err)
	}
	c.l1 = l1
	return c, nil
}

// NewEntry stamps l, fetched at fetchedAt, with the configured TTLs. A nil
// Records becomes an empty slice, so that readers never need to allocate.
func (c *Cache) NewEntry(l crm.Lookup, fetchedAt time.Time) Entry {
	if l.Records == nil {
		l.Records = []crm.Record{}
	}
	return Entry{
		Lookup:     l,
		FetchedAt:  fetchedAt,
		FreshUntil: fetchedAt.Add(c.cfg.FreshTTL.D()),
		StaleUntil: fetchedAt.Add(c.cfg.StaleTTL.D()),
	}
}

// GetFresh returns key's entry only when L1 holds it fresh: no I/O, no
// allocation, meant for the hot path. It counts only hits, so calling Get
// after a GetFresh miss counts the L1 lookup once.
func (c *Cache) GetFresh(key string) (Entry, bool) {
	e, ok := c.l1.GetIfPresent(key)
	if !ok || !e.Fresh(c.now()) {
		return Entry{}, false
	}
	c.m.l1HitFresh.Inc()
	return e, true
}

// Peek returns L1's usable entry for key, fresh or stale, without I/O and
// without counting a request.
func (c *Cache) Peek(key string) (Entry, bool) {
	e, ok := c.l1.GetIfPresent(key)
	if !ok || !e.Usable(c.now()) {
		return Entry{}, false
	}
	return e, true
}

// Get returns the newest usable entry for key (an E.164 number), fresh or
// stale; the caller decides with Entry.Fresh. A fresh L1 entry answers
// without any I/O. Otherwise Redis is asked, bounded by ctx and by the
// redis dependency's timeout; a Redis failure counts as a miss there and
// Get falls back to what L1 had. Entries found in Redis are copied to L1.
func (c *Cache) Get(ctx context.Context, key string) (Entry, bool) {
	now := c.now()
	e, ok := c.l1.GetIfPresent(key)
	if ok && !e.Usable(now) {
		ok = false
	}
	switch {
	case ok && e.Fresh(now):
		c.m.l1HitFresh.Inc()
		return e, true
	case ok:
		c.m.l1HitStale.Inc()
	default:
		c.m.l1Miss.Inc()
	}
	if c.l2 == nil || ctx.Err() != nil {
		return e, ok
	}
	e2, ok2, err := c.l2.get(ctx, key)
	now = c.now()
	switch {
	case err != nil:
		c.m.l2Error.Inc()
		return e, ok
	case !ok2 || !e2.Usable(now):
		c.m.l2Miss.Inc()
		return e, ok
	case e2.Fresh(now):
		c.m.l2HitFresh.Inc()
	default:
		c.m.l2HitStale.Inc()
	}
	if ok && !e2.FetchedAt.After(e.FetchedAt) {
		return e, ok
	}
	c.setL1(key, e2)
	return e2, true
}

// Set stores e under key in L1 at once and queues it for Redis; it never
// waits for Redis. When the write queue is full the Redis write is
// dropped: the next fetch of that key writes it again. An older entry never
// replaces a newer one in L1, and an entry already past StaleUntil is
// ignored.
func (c *Cache) Set(key string, e Entry) {
	if !e.Usable(c.now()) {
		return
	}
	c.setL1(key, e)
	if c.l2 == nil {
		return
	}
	select {
	case c.writes <- write{key: key, e: e}:
	default:
		c.m.l2WriteDropped.Inc()
	}
}

func (c *Cache) setL1(key string, e Entry) {
	c.l1.Compute(key, func(old Entry, found bool) (Entry, otter.ComputeOp) {
		if found && old.FetchedAt.After(e.FetchedAt) {
			return old, otter.CancelOp
		}
		return e, otter.WriteOp
	})
}

// Run writes queued entries to Redis until ctx ends, then stops the L1's
// maintenance goroutine and returns nil once all its goroutines have
// exited. Writes still queued then are dropped. Run is meant to be called
// once; a second concurrent Run waits for the first to return.
func (c *Cache) Run(ctx context.Context) error {
	c.running.Lock()
	defer c.running.Unlock()
	defer c.l1.StopAllGoroutines()
	if c.l2 == nil {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for range c.writers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case w := <-c.writes:
					c.writeL2(ctx, w)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

func (c *Cache) writeL2(ctx context.Context, w write) {
	ttl := w.e.StaleUntil.Sub(c.now())
	if ttl <= 0 {
		return
	}
	if err := c.l2.set(ctx, w.key, w.e, ttl); err != nil {
		c.m.l2WriteError.Inc()
		c.log.DebugContext(ctx, "cache: redis write failed", slog.Any("err", err))
		return
	}
	c.m.l2WriteOK.Inc()
}

// otterLogger sends otter's warnings to the injected logger instead of
// slog.Default.
type otterLogger struct{ log *slog.Logger }

func (l otterLogger) Warn(ctx context.Context, msg string, err error) {
	l.log.WarnContext(ctx, "cache: l1: "+msg, slog.Any("err", err))
}

func (l otterLogger) Error(ctx context.Context, msg string, err error) {
	l.log.ErrorContext(ctx, "cache: l1: "+msg, slog.Any("err", err))
}
