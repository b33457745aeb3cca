package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// buildIdentity builds the token verifier when an issuer is configured
// (dev mode starts the OIDC provider simulator and points at it). It
// returns nil when there is none: /v1/identity/verify then answers 503.
func (s *Sidecar) buildIdentity(ctx context.Context) (authn.Verifier, error) {
	if s.opts.Dev && s.cfg.Identity.Issuer == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("sidecar: identity simulator listen: %w", err)
		}
		idp := sim.NewIdP(sim.IdPOptions{Issuer: "http://" + ln.Addr().String(), Audience: "holdline"})
		srv := &http.Server{Handler: idp.Handler(), ReadHeaderTimeout: 5 * time.Second}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ln) }() // ends in the closer below
		s.closers = append(s.closers, func() error {
			err := srv.Close()
			<-done
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		})
		id := &s.cfg.Identity
		id.Issuer, id.Audience = idp.Issuer(), "holdline"
		id.ClientID, id.ClientSecret = idp.ClientID(), config.Secret(idp.ClientSecret())
		s.devRoutes["/dev/idp"] = idp.DevHandler()
	}
	if s.cfg.Identity.Issuer == "" {
		return nil, nil
	}
	// The last good key set lives in data_dir, so a restart while the
	// provider is down still verifies tokens (degraded) until max_stale.
	v, err := identity.New(s.cfg.Identity, s.deps.Get("identity"), identity.Options{Logger: s.log, Registerer: s.reg, StateDir: s.cfg.DataDir})
	if err != nil {
		return nil, err
	}
	// Warm the keys before serving (bounded by identity.budget), so a
	// healthy sidecar is not reported degraded for want of a first fetch.
	// A failure is logged inside and retried by Run.
	_ = v.Refresh(ctx)
	s.runners = append(s.runners, v.Run)
	s.identity = v
	return v, nil
}
