package screenpop_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/cache"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/phone"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/screenpop"
	"github.com/holdline/holdline/internal/sim"
)

// Numbers in the simulator's seed: Ada has one open record; nobody has
// the unknown number.
const (
	adaE164     = "+14155550100"
	unknownE164 = "+14155550142"
)

// budget is the screen-pop budget of every test env.
const budget = 200 * time.Millisecond

// clock is a settable clock for cache freshness.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a Flow wired the way serve wires it: the real CRM simulator over
// HTTP, the generic adapter, real failsafe policies, and the two-tier
// cache. With envOptions.bubble the HTTP runs over in-memory pipes inside
// a synctest bubble; otherwise over 127.0.0.1 on the crm dependency's own
// client.
type env struct {
	flow   *screenpop.Flow
	cache  *cache.Cache
	sim    *sim.CRM
	crmDep *resilience.Dependency
	clk    *clock
	reg    *prometheus.Registry
	logs   *syncBuffer
	cfg    *config.Config
	budget time.Duration
	bubble bool
}

type envOptions struct {
	// mutate adjusts the config after the test defaults.
	mutate func(*config.Config)
	// redisAddr, when set, adds the Redis tier.
	redisAddr string
	// noRun leaves Run unstarted.
	noRun bool
	// bubble says newEnv is called inside a synctest bubble: the simulator
	// is then served over in-memory pipes (real HTTP, no sockets, see
	// pipeNet), every wait runs on the bubble's clock, and pop checks each
	// answer's exact duration against the budget. Outside a bubble (real
	// Redis, benchmarks) pops are not timed: wall-clock latency depends on
	// the machine's load and is the bench harness's to measure.
	bubble bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{
		sim:  sim.NewCRM(sim.CRMOptions{}),
		clk:  &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		reg:  prometheus.NewRegistry(),
		logs: &syncBuffer{},
	}
	var crmURL string
	var pipeClient *http.Client // nil: the crm dependency's own client
	if o.bubble {
		crmURL, pipeClient = servePipe(t, e.sim.Handler())
		e.bubble = true
	} else {
		srv := httptest.NewServer(e.sim.Handler())
		t.Cleanup(srv.Close)
		crmURL = srv.URL
	}

	cfg := config.Default()
	cfg.ScreenPop.Budget = config.Duration(budget)
	cfg.Cache.MaxEntries = 10_000
	cfg.Cache.FreshTTL = config.Duration(time.Minute)
	cfg.Cache.StaleTTL = config.Duration(time.Hour)
	cfg.Cache.RefreshAhead = 0.8
	p := &cfg.Dependencies.CRM.Policy
	p.Endpoints.Primary = crmURL
	p.Timeout = config.Duration(150 * time.Millisecond)
	p.Retry.MaxAttempts = 2
	p.Retry.Backoff = config.Duration(5 * time.Millisecond)
	p.Breaker.MinRequests = 10
	p.Breaker.FailureRate = 0.5
	p.Breaker.Window = config.Duration(10 * time.Second)
	p.Breaker.OpenFor = config.Duration(500 * time.Millisecond)
	p.Breaker.HalfOpenProbes = 1
	cfg.Dependencies.Redis.Timeout = config.Duration(30 * time.Millisecond)
	cfg.Dependencies.Redis.Retry.MaxAttempts = 1
	cfg.Cache.Redis.Addr = o.redisAddr
	if !o.bubble {
		// Real sockets on a machine that may be busy: the CRM gets all the
		// time a loaded machine could need, so these tests prove what they
		// are about (Redis trouble never reaching a pop, a fleet sharing
		// entries) and not how fast loopback is today. Redis keeps its own
		// short timeout: that is what must keep its trouble away.
		cfg.ScreenPop.Budget = config.Duration(10 * time.Second)
		p.Timeout = config.Duration(5 * time.Second)
	}
	if o.mutate != nil {
		o.mutate(cfg)
	}
	e.cfg = cfg
	e.budget = cfg.ScreenPop.Budget.D()

	set, err := resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true, Registerer: e.reg})
	if err != nil {
		t.Fatalf("resilience.NewSet: %v", err)
	}
	t.Cleanup(set.CloseIdleConnections)
	e.crmDep = set.Get("crm")
	hc := e.crmDep.HTTPClient()
	if pipeClient != nil {
		hc = pipeClient
	}
	client, err := crm.New(cfg.Dependencies.CRM, hc, e.crmDep.Endpoint)
	if err != nil {
		t.Fatalf("crm.New: %v", err)
	}

	var rdb *redis.Client
	if o.redisAddr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: o.redisAddr, ContextTimeoutEnabled: true, MaxRetries: -1})
		t.Cleanup(func() { rdb.Close() })
	}
	e.cache, err = cache.New(cfg.Cache, rdb, set.Get("redis"), cache.Options{Now: e.clk.Now, Registerer: e.reg})
	if err != nil {
		t.Fatalf("cache.New: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.flow = screenpop.New(e.cache, client, e.crmDep, cfg.ScreenPop, cfg.Cache,
		screenpop.Options{Logger: log, Registerer: e.reg, Now: e.clk.Now})
	if !o.noRun {
		e.run(t)
	}
	return e
}

// run runs the flow's and the cache's Run until the test ends, and checks
// that both return nil.
func (e *env) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- e.flow.Run(ctx) }()
	go func() { errs <- e.cache.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		}
	})
}

// pop pops n and, in a bubble, checks that the answer came within the
// budget: exactly, since bubble time passes only while every goroutine
// waits, whatever the machine's load.
func (e *env) pop(t testing.TB, n phone.Number) screenpop.Result {
	t.Helper()
	start := time.Now()
	r := e.flow.Pop(t.Context(), n)
	if el := time.Since(start); e.bubble && el > e.budget {
		t.Errorf("Pop(%v) took %v, want at most the budget %v", n, el, e.budget)
	}
	return r
}

// lookups counts the CRM lookups the simulator has seen (attempts,
// retries included).
func (e *env) lookups() int64 { return e.sim.Hits()["generic.lookup"] }

func (e *env) setMode(t testing.TB, m sim.CRMMode) {
	t.Helper()
	if err := e.sim.SetMode(m); err != nil {
		t.Fatalf("SetMode(%+v): %v", m, err)
	}
}

func number(t testing.TB, e164 string) phone.Number {
	t.Helper()
	n, err := phone.Parse(e164, "US")
	if err != nil {
		t.Fatalf("phone.Parse(%q): %v", e164, err)
	}
	return n
}

// eventually polls cond every few milliseconds for up to 5s (of bubble
// time in a bubble).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
