// Package sidecar wires holdline together: config in, listeners, stores,
// flows and background workers out. `holdline serve`, the end-to-end tests
// and the bench harness all start a sidecar through it, so they run the
// same wiring.
//
// New is the composition root and runs one path, each step once, in
// dependency order:
//
//	config → dev transform (dev.go) → Check (check.go)
//	→ tracing (tracing.go: the OTLP tracer provider, when configured)
//	→ local stores (stores.go: data dir, audit log, outbox, spool)
//	→ dependencies with their policies (dependencies.go: the resilience
//	  set, the CRM clients, Redis, the recording store, Dialogflow,
//	  identity)
//	→ flows (flows.go: screen pop, interactions, recordings, the outbox
//	  dispatcher)
//	→ gateway; Start then binds the servers (lifecycle.go).
//
// Every step returns its error; on error New closes everything already
// opened, in reverse order.
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
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/adapters/statuspage"
	"github.com/holdline/holdline/gateway"
	"github.com/holdline/holdline/internal/audit"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/screenpop"
	"github.com/holdline/holdline/internal/telemetry"
	"github.com/holdline/holdline/internal/tracing"
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
	// holdline-sim instead of in-process simulators.
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
	cfg   *config.Config // the sidecar's own copy, dev transform applied
	given *config.Config // a copy of the config New was given (Reload compares)
	opts  Options
	log   *slog.Logger
	reg   *prometheus.Registry

	sims    *devSims // dev mode only
	audit   *audit.Log
	faults  *resilience.Faults // nil unless drills.enabled
	tracing *tracing.Tracing   // off without tracing.otlp_endpoint (tracing.go)
	deps    *resilience.Set
	jobs    *jobs // the outbox (outbox.go)

	// Dependencies (dependencies.go), each built once.
	// crmEndpoints holds one CRM client per configured endpoint; crm
	// sends each call to the active endpoint's (crm.go).
	crmEndpoints map[string]crm.Client
	crm          crm.Client
	blobStore    blob.Store         // where recordings are stored (recordings.go)
	dialogflow   *dialogflow.Client // nil without agents
	identity     *identity.Verifier // nil when identity is off
	statusPages  *statuspage.Poller // nil without status_pages (observe.go)

	// Flows (flows.go).
	screenPop    *screenpop.Flow
	interactions *interactions.Service
	recordings   *capture.Flow

	gw       *gateway.Server
	data     *http.Server
	admin    *http.Server
	dataLn   net.Listener
	adminLn  net.Listener
	dataCap  *connCap // http.max_connections on the data plane
	adminCap *connCap // and on the admin plane
	probes   probeServer
	tokens   []gateway.Token
	devToken string

	// runners are the background components (cache writers, refreshers,
	// the outbox dispatcher); each Run returns once its goroutines exit.
	runners []func(context.Context) error
	// closers close what New opened, run in reverse order.
	closers []func() error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errs    chan error
}

// New checks cfg (after the dev transform, in dev mode), prepares the data
// dir and builds every component, without listening yet. cfg is not
// modified: the sidecar works on its own copy. On error, everything
// already opened is closed.
func New(ctx context.Context, cfg *config.Config, opts Options) (sc *Sidecar, err error) {
	if opts.Logger == nil {
		return nil, errors.New("sidecar: Options.Logger is required")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	s := &Sidecar{opts: opts, log: logger(opts.Logger), reg: telemetry.NewRegistry(), errs: make(chan error, 2)}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	given := *cfg
	s.given = &given
	if s.cfg, err = s.configure(cfg); err != nil {
		return nil, err
	}
	for _, step := range []func(context.Context) error{
		s.buildTracing,
		s.openStores,
		s.buildDependencies,
		s.buildFlows,
		s.buildObservers,
		s.buildGateway,
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// configure returns the config the sidecar runs: a copy of cfg with, in
// dev mode, the simulators' addresses in its empty endpoints, checked by
// Check. The simulators are the only thing it starts.
func (s *Sidecar) configure(cfg *config.Config) (*config.Config, error) {
	c := *cfg
	if s.opts.Dev {
		sims, err := startSims(&c, s.opts.SimURL)
		if err != nil {
			return nil, err
		}
		s.sims = sims
		s.closers = append(s.closers, sims.Close)
		c = devTransform(c, sims.addrs)
	}
	if err := Check(&c); err != nil {
		return nil, fmt.Errorf("sidecar: invalid configuration:\n%w", err)
	}
	return &c, nil
}

// buildGateway builds the HTTP server over the flows, with the readiness
// checks of the data dir and the outbox.
func (s *Sidecar) buildGateway(context.Context) error {
	s.loadTokens()
	devRoutes := map[string]http.Handler{}
	if s.sims != nil {
		devRoutes = s.sims.routes
	}
	cfg := s.cfg
	gw, err := gateway.New(gateway.Options{
		Logger:          s.log,
		Registry:        s.reg,
		Gatherer:        s.reg,
		Tokens:          s.tokens,
		MaxBodyBytes:    cfg.HTTP.MaxBodyBytes,
		BodyTimeout:     cfg.HTTP.BodyTimeout.D(),
		BodyIdleTimeout: cfg.HTTP.BodyIdleTimeout.D(),
		Version:         s.opts.Version,
		Dev:             s.opts.Dev,
		DevRoutes:       devRoutes,
		StatusSections:  s.statusSections(s.dialogflow),
		Degraded:        s.degraded,
		Services: gateway.Services{
			ScreenPop:     s.screenPop,
			DefaultRegion: cfg.ScreenPop.DefaultRegion,
			Faults:        s.faults,
			Audit:         s.audit,
			Dependencies:  s.deps,
			Interactions:  s.interactions,
			Outbox:        s.jobs,
			Dialogflow:    dialogflowService(s.dialogflow),
			Identity:      identityService(s.identity),
			Recordings:    recorder(s.recordings),
		},
	})
	if err != nil {
		return err
	}
	gw.AddReadyCheck("data_dir", func() error {
		_, err := os.Stat(cfg.DataDir)
		return err
	})
	gw.AddReadyCheck("outbox", s.jobs.ready)
	s.gw = gw
	return nil
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

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// GeneratedToken returns the admin token dev mode generated, or "".
func (s *Sidecar) GeneratedToken() string { return s.devToken }

// Dependencies returns the sidecar's dependency set (for status and tests).
func (s *Sidecar) Dependencies() *resilience.Set { return s.deps }

// Config returns the configuration the sidecar runs: the one given to New,
// with the dev transform applied in dev mode. It must not be modified.
func (s *Sidecar) Config() *config.Config { return s.cfg }

// Addr is the data plane's address, e.g. 127.0.0.1:8080.
func (s *Sidecar) Addr() string { return s.dataLn.Addr().String() }

// AdminAddr is the admin plane's address.
func (s *Sidecar) AdminAddr() string { return s.adminLn.Addr().String() }

// ProbeAddr is the probe listener's address, "" when probe_listen is unset.
func (s *Sidecar) ProbeAddr() string { return s.probes.Addr() }

// Err reports a listener that failed after Start.
func (s *Sidecar) Err() <-chan error { return s.errs }
