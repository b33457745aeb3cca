package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/internal/phone"
)

// Options are what the gateway needs from the rest of the sidecar. Flows
// that are nil are not configured; their operations answer 503.
type Options struct {
	Logger *slog.Logger
	// Registry collects the gateway's metrics; Gatherer serves /metrics.
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	// Tokens are the admin tokens; with none, every admin mutation is 401.
	Tokens []Token
	// MaxBodyBytes caps JSON bodies (413 past it).
	MaxBodyBytes int64
	// BodyTimeout bounds how long a JSON request body may take to arrive;
	// BodyIdleTimeout how long a streamed upload may go without sending a
	// byte. 0 means no bound.
	BodyTimeout, BodyIdleTimeout time.Duration
	// Version is reported by /v1/status.
	Version string
	// Dev marks a dev-mode sidecar in /v1/status.
	Dev bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StatusSections fills in the sections of /v1/status (and the status
	// page) that the rest of the sidecar owns: outbox, spool, identity,
	// crm, dialogflow. The gateway sets version, mode, dependencies and
	// drills itself. Called per request; nil adds nothing.
	StatusSections func(context.Context, *adminapi.Status)
	// Degraded reports whether any dependency is degraded, for /v1/status.
	Degraded func() bool
	// DevRoutes, in dev mode, are mounted on the admin listener (e.g.
	// /dev/crm/... served by the simulators).
	DevRoutes map[string]http.Handler
	// Services implement the data-plane operations.
	Services Services
}

// Server implements the data-plane and admin-plane strict server
// interfaces. Its handlers are thin: decode, validate, call a flow, encode.
type Server struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	startedAt time.Time
	flashes   flashKey
	ready     atomic.Bool
	stopping  atomic.Bool

	spark  sparkHistory
	tokens tokenSet
	phones *phone.Parser

	handlersOnce  sync.Once
	dataH, adminH http.Handler
	handlersErr   error

	checksMu sync.Mutex
	checks   map[string]func() error
}

var (
	_ api.StrictServerInterface      = (*Server)(nil)
	_ adminapi.StrictServerInterface = (*Server)(nil)
)

// New returns a Server. It is not ready until SetReady(true).
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		return nil, fmt.Errorf("gateway: Options.Logger is required")
	}
	if opts.Registry == nil || opts.Gatherer == nil {
		return nil, fmt.Errorf("gateway: Options.Registry and Options.Gatherer are required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Server{opts: opts, log: opts.Logger, now: now, startedAt: now(), checks: map[string]func() error{}, phones: phone.NewParser(0), tokens: newTokenSet(opts.Tokens), flashes: newFlashKey()}, nil
}

// SetReady marks the sidecar ready (listeners up, stores open) or not.
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// SetStopping makes /readyz answer 503 while the sidecar drains.
func (s *Server) SetStopping() { s.stopping.Store(true) }

// AddReadyCheck adds a local check to /readyz (a store is open, say).
// Checks must be cheap and must never call an upstream dependency.
func (s *Server) AddReadyCheck(name string, check func() error) {
	s.checksMu.Lock()
	defer s.checksMu.Unlock()
	s.checks[name] = check
}
