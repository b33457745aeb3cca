package dialogflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	cx "cloud.google.com/go/dialogflow/cx/apiv3"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/resilience"
)

var (
	// ErrUnknownAgent is wrapped (in a holdline ENOTFOUND error for
	// "agent") by DetectIntent for an alias that is not in
	// dialogflow.agents.
	ErrUnknownAgent = errors.New("dialogflow: unknown agent alias")
)

// Client is the conversation port of the gateway.
var _ conversation.Service = (*Client)(nil)

// Options are the optional knobs of New. The zero value talks to the real
// regional endpoints with Application Default Credentials.
type Options struct {
	// Logger receives drift, version-read and routing events. Nil
	// discards them.
	Logger *slog.Logger
	// Registerer receives the holdline_dialogflow_* metrics. Nil registers
	// nothing.
	Registerer prometheus.Registerer
	// Now is the clock for session affinity and status times. Nil is
	// time.Now.
	Now func() time.Time
	// Endpoint returns the gRPC endpoint (host:port) for a location. Nil
	// means the regional endpoints: {location}-dialogflow.googleapis.com:443,
	// or dialogflow.googleapis.com:443 for global. Dev mode and tests
	// point every location at the simulator.
	Endpoint func(location string) string
	// ClientOptions are added to every client, after the endpoint: in dev
	// mode and tests, option.WithoutAuthentication and plaintext gRPC
	// (sim.Dialogflow.ClientOptions).
	ClientOptions []option.ClientOption
	// Dial, when set, opens the gRPC connections, e.g. with
	// resilience.Dependency.Dial to enforce the dialogflow egress
	// allowlist (which must then allow *.googleapis.com).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Breaker is dependencies.dialogflow.breaker. Each environment's own
	// breaker takes its failure rate, window, open_for and half-open probes
	// and a quarter of its min_requests (at least 1). Zero fields take the
	// config defaults (0.5, 20, 30s, 15s, 3).
	Breaker config.Breaker
	// ReadTimeout bounds each environment read (start-up and drift
	// checks). Default 5s.
	ReadTimeout time.Duration
	// DriftInterval is how often Run reads the environments again.
	// Default 5m.
	DriftInterval time.Duration
	// SessionIdle ends a session's affinity after this long without a
	// turn. Default 30m, Dialogflow's own session TTL.
	SessionIdle time.Duration
	// MaxSessions bounds the affinity map; the least recently used
	// session is forgotten first. Default 100000.
	MaxSessions int
	// OnAutoSwitch is told of every automatic regional failover (an alias
	// with auto_failover whose active environment's breaker opened), e.g.
	// to audit it. It runs on the turn's goroutine and must not block.
	// Nil: logged only.
	OnAutoSwitch func(Switch)
}

// Client runs turns for every configured alias. It is safe for concurrent
// use. Close it when done.
type Client struct {
	dep      *resilience.Dependency
	log      *slog.Logger
	now      func() time.Time
	opts     Options
	agents   map[string]*agent
	aliases  []string       // sorted
	envs     []*environment // in first-seen order of sorted aliases
	closers  []func() error // the cx clients
	affinity *affinity
	metrics  *metrics
}

// agent is one alias.
type agent struct {
	alias     string
	primary   *environment
	secondary *environment // nil: no failover
	budget    time.Duration
	fallback  config.DialogflowFallback
	// autoFailover lets the client switch region by itself.
	autoFailover bool
	region       region // where new sessions go
}

var aliasPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// New validates cfg, builds one Sessions and one Environments client per
// regional endpoint, and reads every pinned environment once (each read
// bounded by opts.ReadTimeout; a failed read is reported by Agents, not
// returned). dep is the dialogflow dependency: every turn goes through
// its policy chain and fault injection.
//
// It returns every configuration problem at once, each a *config.Problem
// naming its key path (dialogflow.agents.ALIAS.environment for a Draft or
// malformed environment), or an error when a client cannot be built or the
// metrics cannot be registered.
func New(ctx context.Context, cfg config.Dialogflow, dep *resilience.Dependency, opts Options) (*Client, error) {
	if dep == nil {
		return nil, errors.New("dialogflow: a resilience dependency is required")
	}
	opts = withDefaults(opts)
	c := &Client{
		dep:      dep,
		log:      opts.Logger,
		now:      opts.Now,
		opts:     opts,
		agents:   make(map[string]*agent, len(cfg.Agents)),
		affinity: newAffinity(opts.MaxSessions, opts.SessionIdle),
	}
	for a := range cfg.Agents {
		c.aliases = append(c.aliases, a)
	}
	slices.Sort(c.aliases)

	var errs []error
	bad := func(path, msg string) { errs = append(errs, &config.Problem{Path: path, Msg: msg}) }
	for _, alias := range c.aliases {
		ag := cfg.Agents[alias]
		p := "dialogflow.agents." + alias
		if !aliasPattern.MatchString(alias) {
			bad(p, "an alias is 1 to 64 letters, digits, '-' or '_' (it is a URL path segment)")
		}
		if err := config.CheckEnvironment(ag.Environment); err != nil {
			bad(p+".environment", err.Error())
		}
		if ag.Secondary != "" {
			if err := config.CheckEnvironment(ag.Secondary); err != nil {
				bad(p+".secondary", err.Error())
			} else if ag.Secondary == ag.Environment {
				bad(p+".secondary", "must differ from environment")
			}
		}
		if ag.Budget <= 0 {
			bad(p+".budget", "must be positive")
		}
		if ag.AutoFailover && ag.Secondary == "" {
			bad(p+".auto_failover", "needs a secondary environment to fail over to")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c.metrics = m

	clients := map[string]*endpointClients{}
	envs := map[string]*environment{}
	envFor := func(name string) (*environment, error) {
		if e, ok := envs[name]; ok {
			return e, nil
		}
		loc := location(name)
		ep := opts.Endpoint(loc)
		ec, ok := clients[ep]
		if !ok {
			var err error
			if ec, err = c.dialEndpoint(ctx, ep); err != nil {
				return nil, err
			}
			clients[ep] = ec
		}
		e := &environment{name: name, location: loc, clients: ec, role: "secondary"}
		e.breaker = newBreaker(opts.Breaker, func(ev circuitbreaker.StateChangedEvent) {
			c.log.Warn("dialogflow: environment breaker changed", "environment", name,
				"from", ev.OldState.String(), "to", ev.NewState.String())
		})
		envs[name] = e
		c.envs = append(c.envs, e)
		return e, nil
	}
	hasSecondary := false
	for _, alias := range c.aliases {
		ag := cfg.Agents[alias]
		a := &agent{alias: alias, budget: ag.Budget.D(), fallback: ag.Fallback, autoFailover: ag.AutoFailover}
		if a.primary, err = envFor(ag.Environment); err == nil && ag.Secondary != "" {
			a.secondary, err = envFor(ag.Secondary)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		c.agents[alias] = a
		if a.secondary != nil {
			hasSecondary = true
		}
	}
	for _, a := range c.agents {
		a.primary.role = "primary" // a role in any alias wins over secondary
	}
	if hasSecondary {
		// `holdline failover dialogflow` moves the new sessions of the
		// aliases that have a secondary.
		dep.SetFailover(c.failover)
	}
	c.CheckVersions(ctx)
	return c, nil
}

func withDefaults(o Options) Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Endpoint == nil {
		o.Endpoint = RegionalEndpoint
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Second
	}
	if o.DriftInterval <= 0 {
		o.DriftInterval = 5 * time.Minute
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 30 * time.Minute
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 100_000
	}
	return o
}

// RegionalEndpoint returns the Dialogflow CX gRPC endpoint of a location:
// dialogflow.googleapis.com:443 for global, else
// {location}-dialogflow.googleapis.com:443.
func RegionalEndpoint(location string) string {
	if location == "" || location == "global" {
		return "dialogflow.googleapis.com:443"
	}
	return location + "-dialogflow.googleapis.com:443"
}

// location extracts L from projects/P/locations/L/...; New has checked
// the shape.
func location(env string) string {
	parts := strings.Split(env, "/")
	if len(parts) > 3 && parts[2] == "locations" {
		return parts[3]
	}
	return ""
}

// endpointClients are the clients of one regional endpoint.
type endpointClients struct {
	endpoint string
	sessions *cx.SessionsClient
	envs     *cx.EnvironmentsClient
}

func (c *Client) dialEndpoint(ctx context.Context, ep string) (*endpointClients, error) {
	co := []option.ClientOption{
		option.WithEndpoint(ep),
		option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(c.inject)),
	}
	if c.opts.Dial != nil {
		co = append(co, option.WithGRPCDialOption(grpc.WithContextDialer(c.opts.Dial)))
	}
	co = append(co, c.opts.ClientOptions...)
	sc, err := cx.NewSessionsClient(ctx, co...)
	if err != nil {
		return nil, fmt.Errorf("dialogflow: sessions client for %s: %w", ep, err)
	}
	// DetectIntent is not idempotent, and the deadline is ours: drop the
	// client's 220 s timeout and its retry on UNAVAILABLE.
	sc.CallOptions.DetectIntent = nil
	c.closers = append(c.closers, sc.Close)
	ec, err := cx.NewEnvironmentsClient(ctx, co...)
	if err != nil {
		return nil, fmt.Errorf("dialogflow: environments client for %s: %w", ep, err)
	}
	ec.CallOptions.GetEnvironment = nil // ReadTimeout bounds it; Run tries again later
	c.closers = append(c.closers, ec.Close)
	return &endpointClients{endpoint: ep, sessions: sc, envs: ec}, nil
}

// inject applies the dialogflow drill faults beneath the policy chain, to
// every RPC, matched on the role of the environment the call goes to
// (withRole), not on the region new sessions go to.
func (c *Client) inject(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	role, _ := ctx.Value(roleKey{}).(string)
	if err := c.dep.InjectAt(ctx, role); err != nil {
		return err
	}
	return invoker(withRequestID(ctx), method, req, reply, cc, opts...)
}

// roleKey carries the role ("primary" or "secondary") of the environment
// an RPC goes to, for fault matching.
type roleKey struct{}

func withRole(ctx context.Context, role string) context.Context {
	return context.WithValue(ctx, roleKey{}, role)
}

// Close closes every client. Turns after Close answer the fallback.
func (c *Client) Close() error {
	var errs []error
	for _, f := range c.closers {
		errs = append(errs, f())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// breakerState is the state of an environment's breaker as an operator
// reads it: an open breaker whose delay has passed counts as half-open
// (failsafe moves it lazily, on the next call).
func breakerState(cb circuitbreaker.CircuitBreaker[any]) circuitbreaker.State {
	st := cb.State()
	if st == circuitbreaker.OpenState && cb.RemainingDelay() == 0 {
		return circuitbreaker.HalfOpenState
	}
	return st
}
