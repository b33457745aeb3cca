package identity_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/adapters/identity"
	"github.com/holdline/holdline/internal/sim"
)

// TestIdPRestartDuringOutage: the provider goes down, the sidecar
// restarts (a new Verifier on the same data dir): valid tokens still
// verify, degraded, until max_stale; forged ones never do; the provider
// coming back clears degraded.
func TestIdPRestartDuringOutage(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(c *envConfig) { c.opts.StateDir = dir })
	exp := sim.MintExpiresAt(e.clock.Now().Add(72 * time.Hour))
	good := e.mint(t, "agent", exp)
	if got := e.verify(t, good); !got.Active || got.Degraded {
		t.Fatalf("Verify before the outage = %+v, want active", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "identity-jwks.json")); err != nil {
		t.Fatalf("key set not persisted: %v", err)
	}
	if err := e.idp.SetMode(sim.IdPModeDown); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)

	v := e.restart(t)
	st := v.Status()
	if !st.Degraded || st.KeySource != "persisted" || len(st.KeyIDs) != 1 || st.KeysAge != "2h0m0s" {
		t.Errorf("Status() after a restart = %+v, want degraded, persisted keys 2h old", st)
	}
	got := v.Verify(t.Context(), good)
	if !got.Active || !got.Degraded || len(got.Reasons) != 1 || !strings.Contains(got.Reasons[0], "persisted 2h0m0s ago") {
		t.Errorf("Verify after a restart, provider down = %+v, want active, degraded, persisted keys", got)
	}

	// Forged tokens stay refused: another provider's key, none, HMAC with
	// the public key, a kid the set does not hold.
	other := sim.NewIdP(sim.IdPOptions{Issuer: e.idp.Issuer(), Now: e.clock.Now})
	forged, err := other.Mint("admin", exp)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"another key, same kid": forged,
		"alg none":              e.mint(t, "admin", sim.MintAlg("none")),
		"HS256 with public key": e.mint(t, "admin", sim.MintAlg("HS256")),
		"unknown kid":           e.mint(t, "admin", sim.MintKID("key-99")),
	} {
		if got := v.Verify(t.Context(), tok); got.Active {
			t.Errorf("Verify(%s) after a restart = active, want refused", name)
		}
	}

	// The first fetch fails: still served, still degraded, with the reason.
	if err := v.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh with the provider down = nil, want an error")
	}
	if st := v.Status(); !st.Degraded || st.LastError == "" || st.LastRefresh == nil {
		t.Errorf("Status() after a failed refresh = %+v, want degraded with last_error", st)
	}
	if got := v.Verify(t.Context(), good); !got.Active || !got.Degraded {
		t.Errorf("Verify after a failed refresh = %+v, want active, degraded", got)
	}

	// Past max_stale (24h) nothing verifies, and the verdict says why.
	e.clock.Advance(23 * time.Hour)
	got = v.Verify(t.Context(), good)
	if got.Active || !got.Degraded || !strings.Contains(strings.Join(got.Reasons, " "), "past max_stale") {
		t.Errorf("Verify with persisted keys 25h old = %+v, want refused, degraded, past max_stale", got)
	}
	if !v.Status().Degraded {
		t.Errorf("Status().Degraded = false past max_stale")
	}

	// The provider returns: the next fetch clears degraded.
	if err := e.idp.SetMode(sim.IdPModeOK); err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh with the provider back = %v", err)
	}
	if got := v.Verify(t.Context(), good); !got.Active || got.Degraded {
		t.Errorf("Verify after recovery = %+v, want active, not degraded", got)
	}
	if st := v.Status(); st.Degraded || st.KeySource != "fetched" || st.LastError != "" {
		t.Errorf("Status() after recovery = %+v, want fetched keys, not degraded", st)
	}
}

// TestIdPRestartWithoutPersistedKeys: nothing on disk and the provider
// down: every JWT is refused, and both the verdict and the status say
// degraded.
func TestIdPRestartWithoutPersistedKeys(t *testing.T) {
	e := newEnv(t, func(c *envConfig) {
		c.opts.StateDir = t.TempDir()
		c.idp.Mode = sim.IdPModeDown
	})
	got := e.verify(t, e.mint(t, "agent"))
	if got.Active || !got.Degraded || !strings.HasPrefix(got.Reasons[0], "signing keys unavailable") {
		t.Errorf("Verify(no keys, provider down) = %+v, want refused, degraded", got)
	}
	if st := e.v.Status(); !st.Degraded || st.KeySource != "none" {
		t.Errorf("Status() = %+v, want degraded, no keys", st)
	}
}

// TestIdPPersistedKeysOfAnotherIssuerAreIgnored: a state file written for
// another provider is never trusted.
func TestIdPPersistedKeysOfAnotherIssuerAreIgnored(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(c *envConfig) { c.opts.StateDir = dir })
	if got := e.verify(t, e.mint(t, "agent")); !got.Active {
		t.Fatalf("Verify = inactive %v", got.Reasons)
	}
	path := filepath.Join(dir, "identity-jwks.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), e.idp.Issuer(), "https://evil.example", 1))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := e.restart(t).Status(); st.KeySource != "none" {
		t.Errorf("Status() with another issuer's state file = %+v, want no keys", st)
	}
	if !strings.Contains(e.logs.String(), "ignoring the persisted key set") {
		t.Errorf("no log says the state file was ignored:\n%s", e.logs.String())
	}
}

// TestIdPRecoveryClearsDegradedWithinOneRefreshInterval runs Run on the
// test clock: failures keep re-arming the refresh, and the first refresh
// after the provider returns clears degraded, refresh_min (1m) later.
func TestIdPRecoveryClearsDegradedWithinOneRefreshInterval(t *testing.T) {
	e := newEnv(t)
	e.background(t, e.v)
	waitFor(t, "the first fetch", func() bool { return e.v.Status().KeySource == "fetched" && e.clock.Waiting() > 0 })
	if err := e.idp.SetMode(sim.IdPMode503); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute) // the JWKS max-age
	waitFor(t, "a failed refresh", func() bool { return e.v.Status().Degraded && e.clock.Waiting() > 0 })

	// However many failures in a row, the refresh stays armed.
	for i := range 3 {
		hits := e.idp.Hit(sim.IdPJWKS)
		e.clock.Advance(time.Minute)
		waitFor(t, "another failed refresh", func() bool { return e.idp.Hit(sim.IdPJWKS) > hits && e.clock.Waiting() > 0 })
		if st := e.v.Status(); !st.Degraded || st.LastError != "identity: http 503" {
			t.Fatalf("Status() after failure %d = %+v, want degraded, http 503", i+2, st)
		}
	}
	if got := e.verify(t, e.mint(t, "agent")); !got.Active || !got.Degraded {
		t.Errorf("Verify during the outage = %+v, want active, degraded", got)
	}

	if err := e.idp.SetMode(sim.IdPModeOK); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // one refresh_min
	waitFor(t, "degraded to clear", func() bool { return !e.v.Status().Degraded })
	if got := e.verify(t, e.mint(t, "agent")); !got.Active || got.Degraded {
		t.Errorf("Verify after recovery = %+v, want active, not degraded", got)
	}
}

// TestIdPRotationWithOverlapThenDrop: while the provider publishes both
// keys, tokens of both verify; once it drops the old key, the old key's
// tokens stop verifying at the next fetch.
func TestIdPRotationWithOverlapThenDrop(t *testing.T) {
	e := newEnv(t)
	oldKID := e.idp.SigningKID()
	oldTok := e.mint(t, "old")
	if got := e.verify(t, oldTok); !got.Active {
		t.Fatalf("Verify(old key) = inactive %v", got.Reasons)
	}
	e.clock.Advance(time.Second) // past jwks.min_interval
	e.idp.RotateKey()
	newTok := e.mint(t, "new")
	for name, tok := range map[string]string{"new key": newTok, "old key, overlap": oldTok} {
		if got := e.verify(t, tok); !got.Active || got.Degraded {
			t.Errorf("Verify(%s) = %+v, want active", name, got)
		}
	}
	if got := e.idp.Hit(sim.IdPJWKS); got != 2 {
		t.Errorf("JWKS hits = %d, want 2 (the new kid fetched at once)", got)
	}

	if !e.idp.DropKey(oldKID) {
		t.Fatal("DropKey failed")
	}
	if got := e.verify(t, oldTok); !got.Active {
		t.Errorf("Verify(old key, dropped but not yet fetched) = inactive %v, want active until the next fetch", got.Reasons)
	}
	if err := e.v.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.verify(t, oldTok); got.Active || got.Degraded || got.Reasons[0] != "unknown signing key" {
		t.Errorf("Verify(old key after the fetch that dropped it) = %+v, want refused, unknown signing key", got)
	}
	if got := e.verify(t, newTok); !got.Active {
		t.Errorf("Verify(new key) = inactive %v", got.Reasons)
	}
	if got := e.v.Status().KeyIDs; len(got) != 1 || got[0] == oldKID {
		t.Errorf("Status().KeyIDs = %v, want only the new key", got)
	}
}

// TestIdPRefreshFollowsMaxAgeWithinBounds: the next refresh is the JWKS
// max-age, clamped to jwks.refresh_min and refresh_max.
func TestIdPRefreshFollowsMaxAgeWithinBounds(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		maxAge, want time.Duration
	}{
		{5 * time.Minute, 5 * time.Minute},
		{10 * time.Second, time.Minute},
		{3 * time.Hour, time.Hour},
	} {
		e.idp.SetJWKSMaxAge(tt.maxAge)
		if err := e.v.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := e.v.Status()
		if got := st.NextRefresh.Sub(*st.LastRefresh); got != tt.want {
			t.Errorf("next refresh with max-age %v = in %v, want %v", tt.maxAge, got, tt.want)
		}
	}
}

// TestIdPStatusShape checks the status section an operator reads.
func TestIdPStatusShape(t *testing.T) {
	e := newEnv(t)
	if st := e.v.Status(); !st.Degraded || st.KeySource != "none" || st.Reason == "" {
		t.Errorf("Status() before any fetch = %+v, want degraded, no keys, a reason", st)
	}
	if err := e.v.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(90 * time.Second)
	st := e.v.Status()
	want := identity.Status{
		Issuer: e.idp.Issuer(), KeySource: "fetched", KeyIDs: []string{e.idp.SigningKID()},
		KeysAge: "1m30s", MaxStale: "24h0m0s",
	}
	if st.Issuer != want.Issuer || st.Degraded || st.KeySource != want.KeySource || len(st.KeyIDs) != 1 || st.KeyIDs[0] != want.KeyIDs[0] ||
		st.KeysAge != want.KeysAge || st.MaxStale != want.MaxStale || st.KeysUsableUntil == nil || st.LastError != "" {
		t.Errorf("Status() = %+v, want %+v", st, want)
	}
	// Durations are logged as durations, not nanoseconds.
	if err := e.idp.SetMode(sim.IdPMode503); err != nil {
		t.Fatal(err)
	}
	_ = e.v.Refresh(t.Context())
	if logs := e.logs.String(); !strings.Contains(logs, `"keys_age":"1m30s"`) || !strings.Contains(logs, `"retry_in":"1m0s"`) {
		t.Errorf("refresh failure log lacks keys_age 1m30s / retry_in 1m0s as durations:\n%s", logs)
	}
}
