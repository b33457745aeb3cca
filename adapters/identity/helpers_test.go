package identity_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
)

// clock is a settable test clock shared by the IdP and the Verifier, with
// timers (After) that fire when Advance passes them.
type clock struct {
	mu      sync.Mutex
	t       time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock and fires the timers it passes.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.t) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.t
	}
	c.waiters = kept
}

// After is Options.After on this clock.
func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.t
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.t.Add(d), ch: ch})
	return ch
}

// Waiting is the number of timers not yet fired.
func (c *clock) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// env is a Verifier wired to a simulated IdP on 127.0.0.1 through a real
// resilience.Set.
type env struct {
	idp   *sim.IdP
	clock *clock
	set   *resilience.Set
	cfg   config.Identity
	opts  identity.Options
	v     *identity.Verifier
	reg   *prometheus.Registry
	logs  *syncBuffer
}

type envConfig struct {
	idp   sim.IdPOptions
	cfg   config.Identity
	deps  func(*config.Dependencies)
	opts  identity.Options
	noIdP bool // skip the introspection client config
}

// newEnv starts an IdP and builds a Verifier for it after the mutators
// have adjusted the configuration.
func newEnv(t testing.TB, mutate ...func(*envConfig)) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}

	c := &config.Default().Identity
	ec := envConfig{
		idp: sim.IdPOptions{Issuer: issuer, Now: clk.Now},
		cfg: *c,
	}
	ec.cfg.Issuer = issuer
	ec.cfg.Audience = "holdline"
	ec.cfg.ClientID = "holdline"
	ec.cfg.ClientSecret = "holdline-secret"
	ec.cfg.Budget = config.Duration(2 * time.Second)
	for _, m := range mutate {
		m(&ec)
	}
	idp := sim.NewIdP(ec.idp)
	srv.Config.Handler = idp.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	deps := config.Default().Dependencies
	for _, name := range config.Names {
		p := deps.Policy(name)
		p.Retry.MaxAttempts = 1
		p.Breaker.MinRequests = 1000 // tests count provider hits; keep the breaker out of it
	}
	deps.Identity.Endpoints.Primary = issuer
	if ec.deps != nil {
		ec.deps(&deps)
	}
	set, err := resilience.NewSet(deps, resilience.Options{AllowLoopback: true})
	if err != nil {
		t.Fatalf("resilience.NewSet: %v", err)
	}
	t.Cleanup(set.CloseIdleConnections)

	e := &env{idp: idp, clock: clk, set: set, cfg: ec.cfg, reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	e.opts = ec.opts
	e.opts.Now = clk.Now
	e.opts.After = clk.After
	e.opts.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := e.opts
	opts.Registerer = e.reg
	e.v, err = identity.New(ec.cfg, set.Get("identity"), opts)
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	return e
}

// restart builds a new Verifier with the same configuration, clock and
// state directory, as a restarted sidecar would.
func (e *env) restart(t testing.TB) *identity.Verifier {
	t.Helper()
	v, err := identity.New(e.cfg, e.set.Get("identity"), e.opts)
	if err != nil {
		t.Fatalf("identity.New (restart): %v", err)
	}
	return v
}

// waitFor polls cond until it holds, failing the test after a generous
// hang guard.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// mint returns a JWT from the IdP or fails the test.
func (e *env) mint(t testing.TB, sub string, opts ...sim.MintOption) string {
	t.Helper()
	tok, err := e.idp.Mint(sub, opts...)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// verify runs Verify with the test's context.
func (e *env) verify(t testing.TB, token string) authn.Verdict {
	t.Helper()
	return e.v.Verify(t.Context(), token)
}

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
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

// background runs v's Run until the test ends.
func (e *env) background(t testing.TB, v *identity.Verifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
