package sidecar

import (
	"context"
	"net"

	"google.golang.org/api/option"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/conversation"
)

// buildDialogflow builds the Dialogflow CX client when agents are
// configured (in dev mode, devTransform has configured one served by the
// simulator, which the client then reaches in plaintext without
// credentials). Without agents, s.dialogflow stays nil and detect-intent
// answers 503.
func (s *Sidecar) buildDialogflow(ctx context.Context) error {
	if len(s.cfg.Dialogflow.Agents) == 0 {
		return nil
	}
	dep := s.deps.Get("dialogflow")
	opts := dialogflow.Options{
		Logger: s.log, Registerer: s.reg, Breaker: s.cfg.Dependencies.Dialogflow.Breaker,
		SessionIdle: s.cfg.Dialogflow.SessionTTL.D(), MaxSessions: s.cfg.Dialogflow.MaxSessions,
		OnAutoSwitch: s.auditAutoSwitch,
	}
	if s.sims != nil && s.sims.df != nil {
		df := s.sims.df
		opts.Endpoint = func(string) string { return df.Addr() }
		opts.ClientOptions = df.ClientOptions()
	}
	// Every connection goes through the dependency's egress allowlist.
	opts.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return dep.Dial(ctx, "tcp", addr) }
	opts.ClientOptions = append(opts.ClientOptions, option.WithUserAgent("holdline"))
	if o := s.grpcTracing(); o != nil {
		opts.ClientOptions = append(opts.ClientOptions, o)
	}
	c, err := dialogflow.New(ctx, s.cfg.Dialogflow, dep, opts)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, c.Close)
	s.runners = append(s.runners, c.Run)
	s.dialogflow = c
	return nil
}

// dialogflowService keeps a nil client a nil interface, so the gateway
// answers 503 rather than calling a nil client.
func dialogflowService(c *dialogflow.Client) conversation.Service {
	if c == nil {
		return nil
	}
	return c
}

// auditAutoSwitch keeps an automatic regional failover (auto_failover) in
// the audit log, with the actor dialogflow.AutoActor, beside the
// operators' failovers (endpoint.set).
func (s *Sidecar) auditAutoSwitch(sw dialogflow.Switch) {
	if s.audit == nil {
		return
	}
	s.audit.Record(context.Background(), dialogflow.AutoActor, "dialogflow.region", sw.Alias, sw.Reason, "ok",
		map[string]any{"from": sw.From, "to": sw.To, "auto": true})
}
