package dialogflow

import (
	"context"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/holdline/holdline/internal/conversation"
)

// environment is one pinned environment: its clients, its breaker and
// what the control plane said about its versions.
type environment struct {
	name     string
	location string
	// role is "primary" when the environment is some alias's primary,
	// else "secondary": what a drill fault's endpoint matches on its
	// version reads.
	role    string
	clients *endpointClients
	breaker circuitbreaker.CircuitBreaker[any]

	mu        sync.Mutex
	read      bool     // baseline holds a successful read
	baseline  []string // version configs seen first (at start-up when that read worked)
	current   []string // version configs seen last
	drift     bool     // current differs from baseline
	checkedAt time.Time
	lastErr   string // a Reason, "" after a successful read
}

// Run checks every pinned environment's version configs for drift every
// DriftInterval and forgets idle sessions, until ctx ends. It returns nil
// once its goroutines have exited. Run at most once at a time.
func (c *Client) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.DriftInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.CheckVersions(ctx)
			c.affinity.sweep(c.now())
		}
	}
}

// CheckVersions reads every pinned environment now, each read bounded by
// ReadTimeout, and updates what Agents reports; it returns when all reads
// are done. Failed reads are reported, not returned. Safe for concurrent
// use.
func (c *Client) CheckVersions(ctx context.Context) {
	var wg sync.WaitGroup
	for _, e := range c.envs {
		wg.Go(func() { c.readVersions(ctx, e) })
	}
	wg.Wait()
}

func (c *Client) readVersions(ctx context.Context, e *environment) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	env, err := e.clients.envs.GetEnvironment(withRole(rctx, e.role), &cxpb.GetEnvironmentRequest{Name: e.name}, noRetry)
	why := ""
	if err != nil {
		why = c.reason(rctx, err)
	}
	cancel()

	var versions []string
	for _, vc := range env.GetVersionConfigs() {
		versions = append(versions, vc.GetVersion())
	}
	slices.Sort(versions)

	e.mu.Lock()
	defer e.mu.Unlock()
	e.checkedAt = c.now()
	switch {
	case err != nil:
		e.lastErr = why
		c.log.Warn("dialogflow: cannot read environment versions; serving on the configured pin",
			"environment", e.name, "reason", why)
	case !e.read:
		e.read, e.baseline, e.current, e.lastErr = true, versions, versions, ""
		c.log.Info("dialogflow: environment versions", "environment", e.name, "versions", versions)
	default:
		e.current, e.lastErr = versions, ""
		drift := !slices.Equal(versions, e.baseline)
		if drift && !e.drift {
			c.log.Warn("dialogflow: environment versions drifted since start-up",
				"environment", e.name, "seen_at_start", e.baseline, "now", versions)
		}
		e.drift = drift
	}
}

// Agents reports every alias, sorted by alias. It calls nothing upstream.
// Safe for concurrent use.
func (c *Client) Agents() []conversation.AgentStatus {
	depOpen := !c.dep.BreakerAllows()
	out := make([]conversation.AgentStatus, 0, len(c.aliases))
	for _, alias := range c.aliases {
		a := c.agents[alias]
		st := conversation.AgentStatus{Alias: alias, Environment: a.primary.name, VersionsRead: true}
		if a.secondary != nil {
			st.Secondary = a.secondary.name
		}
		for _, e := range []*environment{a.primary, a.secondary} {
			if e == nil {
				continue
			}
			es := e.status(depOpen)
			es.Role = "primary"
			if e == a.secondary {
				es.Role = "secondary"
			}
			st.VersionsRead = st.VersionsRead && es.VersionsRead
			st.Drift = st.Drift || es.Drift
			st.Environments = append(st.Environments, es)
		}
		st.Versions = st.Environments[0].Versions
		st.Breaker = st.Environments[0].Breaker
		st.AutoFailover = a.autoFailover
		st.ActiveRegion, st.LastSwitch = a.region.status()
		out = append(out, st)
	}
	return out
}

func (e *environment) status(depOpen bool) conversation.EnvironmentStatus {
	br := breakerState(e.breaker).String()
	if depOpen {
		br = circuitbreaker.OpenState.String()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	es := conversation.EnvironmentStatus{
		Name:            e.name,
		Endpoint:        e.clients.endpoint,
		Versions:        nonNil(slices.Clone(e.baseline)),
		CurrentVersions: nonNil(slices.Clone(e.current)),
		VersionsRead:    e.read,
		Drift:           e.drift,
		Breaker:         br,
		LastError:       e.lastErr,
	}
	if !e.checkedAt.IsZero() {
		t := e.checkedAt
		es.CheckedAt = &t
	}
	return es
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
