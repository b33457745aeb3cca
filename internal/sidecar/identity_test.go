package sidecar

import (
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// identityStatus is the part of /v1/status this test reads.
type identityStatus struct {
	Degraded bool `json:"degraded"`
	Identity struct {
		Degraded  bool     `json:"degraded"`
		KeySource string   `json:"key_source"`
		KeyIDs    []string `json:"key_ids"`
		LastError string   `json:"last_error"`
		KeysAge   string   `json:"keys_age"`
	} `json:"identity"`
}

type verdict struct {
	Active   bool     `json:"active"`
	Degraded bool     `json:"degraded"`
	Reasons  []string `json:"reasons"`
}

// startWithIdP starts a dev-mode sidecar whose identity provider is idp,
// on dataDir, and returns it with an idempotent stop.
func startWithIdP(t *testing.T, idp *sim.IdP, dataDir string) (*testSidecar, func()) {
	t.Helper()
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	cfg.Identity.Issuer, cfg.Identity.Audience = idp.Issuer(), "holdline"
	cfg.Identity.ClientID, cfg.Identity.ClientSecret = idp.ClientID(), config.Secret(idp.ClientSecret())
	logs := &syncBuffer{}
	sc, err := New(t.Context(), cfg, Options{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Dev:    true,
		Getenv: func(k string) string {
			if k == "HOLDLINE_ADMIN_TOKEN" {
				return token
			}
			return ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := sc.Stop(); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testSidecar{Sidecar: sc, data: "http://" + sc.Addr(), admin: "http://" + sc.AdminAddr(), logs: logs}, stop
}

// TestIdentitySurvivesRestartDuringOutage restarts the sidecar on the same
// data dir while the provider is down: a valid token verifies, degraded,
// and /v1/status says so in its identity section.
func TestIdentitySurvivesRestartDuringOutage(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	idp := sim.NewIdP(sim.IdPOptions{Issuer: "http://" + srv.Listener.Addr().String()})
	srv.Config.Handler = idp.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	tok, err := idp.Mint("agent-1")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"token":"` + tok + `"}`

	ts, stop := startWithIdP(t, idp, dir)
	// Start-up does not wait for the provider: wait for the first fetch
	// (Refresh joins the one Run makes at once).
	if err := ts.identity.Refresh(t.Context()); err != nil {
		t.Fatalf("first key fetch with the provider up: %v", err)
	}
	var st identityStatus
	ts.get(t, ts.admin+"/v1/status", &st)
	if st.Degraded || st.Identity.Degraded || st.Identity.KeySource != "fetched" || len(st.Identity.KeyIDs) != 1 {
		t.Fatalf("status with the provider up = %+v, want identity fetched, not degraded", st)
	}
	var vd verdict
	if code := ts.post(t, ts.data+"/v1/identity/verify", body, &vd); code != 200 || !vd.Active || vd.Degraded {
		t.Fatalf("verify with the provider up = %d %+v, want active", code, vd)
	}
	stop()

	if err := idp.SetMode(sim.IdPModeDown); err != nil {
		t.Fatal(err)
	}
	ts, _ = startWithIdP(t, idp, dir)
	vd = verdict{}
	if code := ts.post(t, ts.data+"/v1/identity/verify", body, &vd); code != 200 || !vd.Active || !vd.Degraded {
		t.Errorf("verify after a restart with the provider down = %d %+v, want active, degraded", code, vd)
	}
	// Wait for a fetch attempt against the down provider, so last_error
	// is set.
	if err := ts.identity.Refresh(t.Context()); err == nil {
		t.Fatal("a key fetch with the provider down succeeded")
	}
	st = identityStatus{}
	ts.get(t, ts.admin+"/v1/status", &st)
	if !st.Degraded || !st.Identity.Degraded || st.Identity.KeySource != "persisted" || st.Identity.LastError == "" {
		t.Errorf("status after a restart with the provider down = %+v, want degraded, persisted keys, last_error", st)
	}
}
