package sidecar

import (
	"context"

	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/internal/authn"
)

// buildIdentity builds the token verifier when an issuer is configured (in
// dev mode, devTransform has pointed it at the OIDC provider simulator).
// Without one, s.identity stays nil and /v1/identity/verify answers 503.
func (s *Sidecar) buildIdentity(context.Context) error {
	if s.cfg.Identity.Issuer == "" {
		return nil
	}
	// The last good key set lives in data_dir, so a restart while the
	// provider is down still verifies tokens (degraded) until max_stale.
	v, err := identity.New(s.cfg.Identity, s.deps.Get("identity"), identity.Options{Logger: s.log, Registerer: s.reg, StateDir: s.cfg.DataDir})
	if err != nil {
		return err
	}
	// No fetch here: start-up (and /readyz) never waits for the provider.
	// Run fetches the keys at once; until that fetch lands, a Verify joins
	// it (or makes its own) within identity.budget, and refuses a JWT
	// whose keys it could not get.
	s.runners = append(s.runners, v.Run)
	s.identity = v
	return nil
}

// identityService keeps a nil verifier a nil interface, so the gateway
// answers 503 rather than calling a nil verifier.
func identityService(v *identity.Verifier) authn.Verifier {
	if v == nil {
		return nil
	}
	return v
}
