// Package sidecar wires holdline together: config in, listeners, stores,
// flows and background workers out. `holdline serve`, the end-to-end tests
// and the bench harness all start a sidecar through it, so they run the
// same wiring.
//
// Not a stable API: holdline is a binary, and this package serves it.
package sidecar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/gateway"
	"github.com/holdline/holdline/internal/audit"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/telemetry"
)

// Options tune a sidecar beyond its config file.
type Options struct {
	// Logger receives the sidecar's JSON logs.
	Logger *slog.Logger
	// Dev starts in-process simulators for every upstream whose endpoint
	// is not configured, allows loopback egress and enables fault
	// injection.
	Dev bool
	// SimURL, in dev mode, points the upstreams at a running
	// `holdline sim` instead of in-process simulators.
	SimURL string
	// AllowLoopback lets a production-mode sidecar dial loopback
	// upstreams (tests and the bench harness).
	AllowLoopback bool
	// Version is reported by /v1/status.
	Version string
	// Getenv reads the environment (HOLDLINE_ADMIN_TOKEN).
	Getenv func(string) string
}

// Sidecar is one running holdline. Build it with New, Start it, Stop it.
type Sidecar struct {
	cfg  *config.Config
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry

	deps     *resilience.Set
	crm      crm.Client // built once by crmClient
	sims     *devSims
	jobs     *jobs              // the outbox (outbox.go)
	identity *identity.Verifier // nil when identity is off (identity.go)
	gw       *gateway.Server
	data     *http.Server
	admin    *http.Server
	dataLn   net.Listener
	adminLn  net.Listener
	probes   probeServer
	tokens   []gateway.Token
	devToken string

	// runners are the background components (cache writers, refreshers,
	// the outbox dispatcher); each Run returns once its goroutines exit.
	devRoutes map[string]http.Handler

	runners []func(context.Context) error
	closers []func() error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errs    chan error
}

// New validates cfg, prepares the data dir and builds every component,
// without listening yet. On error, everything already opened is closed.
func New(ctx context.Context, cfg *config.Config, opts Options) (sc *Sidecar, err error) {
	if opts.Logger == nil {
		return nil, errors.New("sidecar: Options.Logger is required")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	s := &Sidecar{cfg: cfg, opts: opts, log: opts.Logger, reg: telemetry.NewRegistry(), errs: make(chan error, 2), devRoutes: map[string]http.Handler{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sidecar: data dir: %w", err)
	}
	s.loadTokens()

	if opts.Dev && cfg.Dependencies.CRM.Endpoints.Primary == "" {
		if s.sims, err = startSims(cfg, opts.SimURL); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.sims.Close)
		maps.Copy(s.devRoutes, s.sims.routes)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("sidecar: %w", errors.Join(errs...))
	}

	auditLog, err := audit.Open(cfg.DataDir, audit.Options{Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, auditLog.Close)

	var faults *resilience.Faults
	if cfg.Drills.Enabled {
		faults = resilience.NewFaults(nil)
	}
	deps := cfg.Dependencies
	if len(deps.Redis.Allow) == 0 {
		// Redis has addresses, not endpoints: the egress allowlist defaults
		// to the hosts of the cache's and the outbox's Redis.
		for _, addr := range []string{cfg.Cache.Redis.Addr, cfg.Outbox.Redis.Addr} {
			if host, _, err := net.SplitHostPort(addr); err == nil && addr != "" {
				deps.Redis.Allow = append(deps.Redis.Allow, host)
			}
		}
	}
	if cfg.Identity.Issuer != "" && deps.Identity.Endpoints.Primary == "" {
		// The issuer is the identity provider's endpoint: the egress
		// allowlist defaults to its host.
		deps.Identity.Endpoints.Primary = cfg.Identity.Issuer
	}
	s.deps, err = resilience.NewSet(deps, resilience.Options{
		Logger:        s.log,
		Registerer:    s.reg,
		AllowLoopback: opts.Dev || opts.AllowLoopback,
		Faults:        faults,
		OnBreakerChange: func(dep, from, to string) {
			s.log.Warn("breaker changed", "dependency", dep, "from", from, "to", to)
			auditLog.Record(context.Background(), "system", "breaker.state", dep, "", "ok", map[string]any{"from": from, "to": to})
		},
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { s.deps.CloseIdleConnections(); return nil })

	pop, err := s.buildScreenPop()
	if err != nil {
		return nil, err
	}
	jobs, err := s.openOutbox()
	if err != nil {
		return nil, err
	}
	// Features that queue jobs build here: they register their job
	// handlers on jobs (Handle, OnFinish) and keep jobs as their queue.
	rec, err := s.buildRecordings(ctx, jobs)
	if err != nil {
		return nil, err
	}
	writes, err := s.startOutbox(jobs)
	if err != nil {
		return nil, err
	}

	df, err := s.buildDialogflow(ctx)
	if err != nil {
		return nil, err
	}

	idv, err := s.buildIdentity(ctx)
	if err != nil {
		return nil, err
	}
	s.gw, err = gateway.New(gateway.Options{
		Logger:          s.log,
		Registry:        s.reg,
		Gatherer:        s.reg,
		Tokens:          s.tokens,
		MaxBodyBytes:    cfg.HTTP.MaxBodyBytes,
		BodyTimeout:     cfg.HTTP.BodyTimeout.D(),
		BodyIdleTimeout: cfg.HTTP.BodyIdleTimeout.D(),
		Version:         opts.Version,
		Dev:             opts.Dev,
		DevRoutes:       s.devRoutes,
		StatusSections:  s.statusSections(df),
		Degraded:        s.degraded,
		Services: gateway.Services{
			ScreenPop:     pop,
			DefaultRegion: cfg.ScreenPop.DefaultRegion,
			Faults:        faults,
			Audit:         auditLog,
			Dependencies:  s.deps,
			Interactions:  writes,
			Outbox:        jobs,
			Dialogflow:    dialogflowService(df),
			Identity:      idv,
			Recordings:    recorder(rec),
		},
	})
	if err != nil {
		return nil, err
	}
	s.gw.AddReadyCheck("data_dir", func() error {
		_, err := os.Stat(cfg.DataDir)
		return err
	})
	s.gw.AddReadyCheck("outbox", jobs.ready)
	return s, nil
}

func (s *Sidecar) loadTokens() {
	for _, t := range s.cfg.Admin.Tokens {
		s.tokens = append(s.tokens, gateway.Token{Name: t.Name, Value: t.Token.Reveal()})
	}
	if v := s.opts.Getenv("HOLDLINE_ADMIN_TOKEN"); v != "" {
		s.tokens = append(s.tokens, gateway.Token{Name: "env", Value: v})
	}
	if len(s.tokens) == 0 && s.opts.Dev {
		s.devToken = randomToken()
		s.tokens = append(s.tokens, gateway.Token{Name: "dev", Value: s.devToken})
	}
	if len(s.tokens) == 0 {
		s.log.Warn("no admin token configured: every admin mutation will answer 401; set HOLDLINE_ADMIN_TOKEN or admin.tokens")
	}
}

// GeneratedToken returns the admin token dev mode generated, or "".
func (s *Sidecar) GeneratedToken() string { return s.devToken }

// Dependencies returns the sidecar's dependency set (for status and tests).
func (s *Sidecar) Dependencies() *resilience.Set { return s.deps }

// Start binds both listeners synchronously (so a taken port fails here),
// serves in the background and starts the background workers, which run
// until Stop.
func (s *Sidecar) Start(ctx context.Context) error {
	dataH, adminH, err := s.gw.Handlers()
	if err != nil {
		return err
	}
	s.dataLn, err = net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("sidecar: data plane listen %s: %w", s.cfg.Listen, err)
	}
	s.adminLn, err = net.Listen("tcp", s.cfg.AdminListen)
	if err != nil {
		s.dataLn.Close()
		return fmt.Errorf("sidecar: admin listen %s: %w", s.cfg.AdminListen, err)
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	if err := s.probes.listen(s.cfg, adminH, errLog); err != nil {
		s.dataLn.Close()
		s.adminLn.Close()
		return err
	}
	s.dataLn = netutil.LimitListener(s.dataLn, s.cfg.HTTP.MaxConnections)
	s.adminLn = netutil.LimitListener(s.adminLn, s.cfg.HTTP.MaxConnections)
	s.data = &http.Server{Handler: dataH, ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout.D(), IdleTimeout: s.cfg.HTTP.IdleTimeout.D(), MaxHeaderBytes: 64 << 10, ErrorLog: errLog}
	s.admin = &http.Server{Handler: adminH, ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout.D(), IdleTimeout: s.cfg.HTTP.IdleTimeout.D(), MaxHeaderBytes: 64 << 10, ErrorLog: errLog}

	// Background work stops with Stop, not with the caller's ctx: the
	// caller's ctx ending is what triggers Stop, which drains requests
	// first and only then stops the workers those requests feed.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, run := range s.runners {
		s.wg.Go(func() {
			if err := run(bg); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("background worker stopped", "error", err)
			}
		})
	}
	for _, srv := range []struct {
		h  *http.Server
		ln net.Listener
	}{{s.data, s.dataLn}, {s.admin, s.adminLn}} {
		s.wg.Go(func() {
			if err := srv.h.Serve(srv.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errs <- err
			}
		})
	}
	s.probes.serve(&s.wg, s.errs)
	s.gw.SetReady(true)
	s.log.Info("holdline started", "listen", s.Addr(), "admin_listen", s.AdminAddr(), "data_dir", s.cfg.DataDir, "dev", s.opts.Dev)
	return nil
}

// Addr is the data plane's address, e.g. 127.0.0.1:8080.
func (s *Sidecar) Addr() string { return s.dataLn.Addr().String() }

// AdminAddr is the admin plane's address.
func (s *Sidecar) AdminAddr() string { return s.adminLn.Addr().String() }

// Err reports a listener that failed after Start.
func (s *Sidecar) Err() <-chan error { return s.errs }

// Stop drains: /readyz turns 503, listeners stop accepting, in-flight
// requests finish (bounded by http.shutdown_timeout), background workers
// stop, then stores close. It returns the first error.
func (s *Sidecar) Stop() error {
	if s.gw != nil {
		s.gw.SetStopping()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout.D())
	defer cancel()
	var errs []error
	for _, srv := range []*http.Server{s.data, s.admin, s.probes.srv} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sidecar: drain: %w", err))
			_ = srv.Close()
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	errs = append(errs, s.close())
	s.log.Info("holdline stopped")
	return errors.Join(errs...)
}

// close runs the closers in reverse order of opening.
func (s *Sidecar) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ProbeAddr is the probe listener's address, "" when probe_listen is unset.
func (s *Sidecar) ProbeAddr() string { return s.probes.Addr() }
