package sidecar

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

const (
	credsClientID = "holdline-app"
	credsSecret   = "right-client-secret-4f1c"
)

// startOAuthSidecar starts a CRM simulator that issues OAuth tokens and a
// sidecar that gets them with client_credentials, its client secret read
// from a file holding secret. It returns the file's path.
func startOAuthSidecar(t *testing.T, secret string) (*testSidecar, *sim.CRM, string) {
	t.Helper()
	crm := sim.NewCRM(sim.CRMOptions{Empty: true, OAuth: &sim.CRMOAuth{ClientID: credsClientID, ClientSecret: credsSecret}})
	srv := httptest.NewServer(crm.Handler())
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "client_secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startDev(t, func(cfg *config.Config) {
		c := &cfg.Dependencies.CRM
		c.Kind, c.Endpoints.Primary = "generic", srv.URL
		c.Auth = config.CRMAuth{Type: "client_credentials", TokenURL: sim.CRMOAuthPath, ClientID: credsClientID,
			ClientSecretFile: file, RenewBefore: config.Duration(time.Minute), FilePoll: config.Duration(time.Hour)}
		c.Breaker.OpenFor = config.Duration(time.Second)
		// Long enough that a write answered 202 failed rather than ran late.
		cfg.Outbox.WriteBudget = config.Duration(20 * time.Second)
		cfg.Outbox.Backoff = config.Backoff{Initial: config.Duration(50 * time.Millisecond), Max: config.Duration(200 * time.Millisecond), MaxElapsed: config.Duration(time.Hour)}
	})
	return ts, crm, file
}

// crmAuth is the crm dependency's auth state in /v1/status.
func (ts *testSidecar) crmAuth(t *testing.T) string {
	t.Helper()
	_, st := call(t, "GET", ts.admin+"/v1/status", "", false)
	deps, _ := st["dependencies"].([]any)
	for _, d := range deps {
		if m := d.(map[string]any); m["name"] == "crm" {
			s, _ := m["auth"].(string)
			return s
		}
	}
	return ""
}

// outboxDead is the dead count in /v1/status.
func (ts *testSidecar) outboxDead(t *testing.T) float64 {
	t.Helper()
	_, st := call(t, "GET", ts.admin+"/v1/status", "", false)
	ob, _ := st["outbox"].(map[string]any)
	return ob["dead"].(float64)
}

// TestTokenExpiringMidRunCostsNoWrite: every token the CRM issued dies
// in the middle of a run of writes; each write is still answered 201
// within the write budget, lands exactly once, and nothing goes dead.
// (That the 401 is met by one renewal and one resend inside the call is
// adapters/crm's TestClientCredentialsRenewOn401.)
func TestTokenExpiringMidRunCostsNoWrite(t *testing.T) {
	t.Parallel()
	ts, crm, _ := startOAuthSidecar(t, credsSecret)
	const n = 12
	rec := `{"subject":"Billing question","channel":"voice"}`
	for i := range n {
		if i == n/2 {
			crm.ExpireTokens()
		}
		id := fmt.Sprintf("call-%d", i)
		if code, w := call(t, "POST", ts.data+"/v1/interactions/"+id+"/record", rec, false); code != 201 {
			t.Errorf("POST %s record = %d %v, want 201", id, code, w)
		}
		if code, w := call(t, "POST", ts.data+"/v1/interactions/"+id+"/comments", `{"body":"note"}`, false, "Idempotency-Key", id+"-c"); code != 201 {
			t.Errorf("POST %s comment = %d %v, want 201", id, code, w)
		}
		if i == n/2 {
			crm.ExpireTokens() // again, between a record and its comment
		}
	}
	crm.ExpireTokens()
	for i := range n {
		ts.waitJobs(t, fmt.Sprintf("call-%d", i), 2, "done")
	}
	per := map[string]int{}
	for _, r := range crm.Records() {
		per[r.InteractionID]++
		if len(r.Comments) != 1 {
			t.Errorf("record %s of %s has %d comments, want exactly 1", r.ID, r.InteractionID, len(r.Comments))
		}
	}
	for i := range n {
		if id := fmt.Sprintf("call-%d", i); per[id] != 1 {
			t.Errorf("%s has %d records in the CRM, want exactly 1", id, per[id])
		}
	}
	if d := ts.outboxDead(t); d != 0 {
		t.Errorf("outbox dead = %v, want 0", d)
	}
	if got := crm.TokensIssued(); got < 2 {
		t.Errorf("tokens issued = %d, want a renewal after the expiry", got)
	}
	if strings.Contains(ts.logs.String(), credsSecret) {
		t.Errorf("logs hold the client secret")
	}
}

// TestWrongSecretPausesUntilRotated: with a wrong client secret in its
// file, an accepted write waits (auth_failed in status, 0 dead); once the
// file holds the right secret and the sidecar reloads (SIGHUP), the write
// lands, without a restart.
func TestWrongSecretPausesUntilRotated(t *testing.T) {
	t.Parallel()
	ts, crm, file := startOAuthSidecar(t, "wrong-client-secret-9b2e")
	code, w := call(t, "POST", ts.data+"/v1/interactions/call-w/record", `{"subject":"s","channel":"voice"}`, false)
	if code != 202 {
		t.Fatalf("POST record with a wrong secret = %d %v, want 202 queued", code, w)
	}
	waitUntil(t, "crm auth_failed in status", func() (bool, string) {
		a := ts.crmAuth(t)
		return a == "auth_failed", "auth " + a
	})
	if d := ts.outboxDead(t); d != 0 {
		t.Errorf("outbox dead while the secret is wrong = %v, want 0", d)
	}
	if len(crm.Records()) != 0 {
		t.Errorf("the CRM has records although every token was refused")
	}

	if err := os.WriteFile(file, []byte(credsSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := ts.Reload(nil)
	if !slices.Contains(r.Reread, "dependencies.crm.auth.client_secret_file") {
		t.Errorf("Reload = %+v, want the client secret file re-read", r)
	}
	ts.waitJobs(t, "call-w", 1, "done")
	waitUntil(t, "crm auth ok in status", func() (bool, string) {
		a := ts.crmAuth(t)
		return a == "ok", "auth " + a
	})
	if n := len(crm.Records()); n != 1 || ts.outboxDead(t) != 0 {
		t.Errorf("after the rotation: %d records, %v dead; want 1, 0", n, ts.outboxDead(t))
	}
	for _, s := range []string{credsSecret, "wrong-client-secret-9b2e"} {
		if strings.Contains(ts.logs.String(), s) {
			t.Errorf("logs hold a client secret")
		}
	}
}

// TestReloadNamesKeysThatNeedRestart: a reloaded config that changes a
// listener and a timeout reports both as not applied.
func TestReloadNamesKeysThatNeedRestart(t *testing.T) {
	t.Parallel()
	ts := startDev(t, nil)
	next := *ts.given
	next.Listen = "127.0.0.1:1"
	next.Dependencies.CRM.Timeout = config.Duration(3 * time.Second)
	r := ts.Reload(&next)
	if want := []string{"listen", "dependencies.crm.timeout"}; !slices.Equal(r.NotApplied, want) {
		t.Errorf("Reload NotApplied = %v, want %v", r.NotApplied, want)
	}
	if !strings.Contains(ts.logs.String(), "dependencies.crm.timeout") {
		t.Errorf("the reload log does not name the key that needs a restart")
	}
}
