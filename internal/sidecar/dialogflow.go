package sidecar

import (
	"context"
	"net"

	"google.golang.org/api/option"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/sim"
)

// Dev-mode Dialogflow: one alias pinned to a published environment, with a
// secondary in another region, all served by the in-process simulator.
const (
	devAgentAlias     = "support"
	devEnvironment    = "projects/holdline-dev/locations/us-central1/agents/dev-agent/environments/production"
	devEnvironmentEU  = "projects/holdline-dev/locations/europe-west1/agents/dev-agent-eu/environments/production"
	devHandoffQueue   = "support-live"
	devHandoffMessage = "Let me connect you to an agent."
)

// buildDialogflow builds the Dialogflow CX client when agents are
// configured (dev mode configures one on the simulator). It returns nil
// when there are none: detect-intent then answers 503.
func (s *Sidecar) buildDialogflow(ctx context.Context) (*dialogflow.Client, error) {
	opts := dialogflow.Options{Logger: s.log, Registerer: s.reg, Breaker: s.cfg.Dependencies.Dialogflow.Breaker}
	dep := s.deps.Get("dialogflow")
	if s.opts.Dev && len(s.cfg.Dialogflow.Agents) == 0 {
		df, err := sim.StartDialogflow("")
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() error { df.Stop(); return nil })
		s.cfg.Dialogflow.Agents = map[string]config.DialogflowAgent{devAgentAlias: {
			Environment: devEnvironment, Secondary: devEnvironmentEU,
			Budget:   config.Duration(2e9),
			Fallback: config.DialogflowFallback{Message: devHandoffMessage, Queue: devHandoffQueue},
		}}
		opts.Endpoint = func(string) string { return df.Addr() }
		opts.ClientOptions = df.ClientOptions()
	}
	if len(s.cfg.Dialogflow.Agents) == 0 {
		return nil, nil
	}
	// Every connection goes through the dependency's egress allowlist.
	opts.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return dep.Dial(ctx, "tcp", addr) }
	opts.ClientOptions = append(opts.ClientOptions, option.WithUserAgent("holdline"))
	c, err := dialogflow.New(ctx, s.cfg.Dialogflow, dep, opts)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, c.Close)
	s.runners = append(s.runners, c.Run)
	return c, nil
}

// dialogflowService keeps a nil client a nil interface, so the gateway
// answers 503 rather than calling a nil client.
func dialogflowService(c *dialogflow.Client) conversation.Service {
	if c == nil {
		return nil
	}
	return c
}
