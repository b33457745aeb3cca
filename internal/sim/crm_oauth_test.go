package sim_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/sim"
)

// TestCRMOAuthTokens: the token endpoint issues a token for the right
// client credentials only; the token opens the CRM routes until its TTL
// passes (on the simulator's clock) or POST /dev/crm/tokens/expire.
func TestCRMOAuthTokens(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, srv := start(t, sim.CRMOptions{Now: clock, OAuth: &sim.CRMOAuth{ClientID: "app", ClientSecret: "sesame", TTL: time.Minute}})
	form := "application/x-www-form-urlencoded"
	token := func() string {
		t.Helper()
		code, hdr, body := call(t, srv, "POST", sim.CRMOAuthPath, "grant_type=client_credentials&client_id=app&client_secret=sesame", "Content-Type", form)
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn != 60 {
			t.Fatalf("token = %d %s, want 200 with a Bearer token expiring in 60s", code, body)
		}
		if hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("token answer Cache-Control = %q, want no-store", hdr.Get("Cache-Control"))
		}
		return tok.AccessToken
	}
	lookup := func(tok string) int {
		code, _, _ := call(t, srv, "GET", "/contacts?phone=%2B14155550100", "", "Authorization", "Bearer "+tok)
		return code
	}

	if code, _, body := call(t, srv, "POST", sim.CRMOAuthPath, "grant_type=client_credentials&client_id=app&client_secret=nope", "Content-Type", form); code != 400 || !json.Valid([]byte(body)) {
		t.Errorf("wrong secret = %d %s, want 400 invalid_client", code, body)
	}
	if code := lookup("made-up"); code != 401 {
		t.Errorf("lookup with a token never issued = %d, want 401", code)
	}
	tok := token()
	if code := lookup(tok); code != 200 {
		t.Errorf("lookup with a fresh token = %d, want 200", code)
	}
	advance(time.Minute)
	if code := lookup(tok); code != 401 {
		t.Errorf("lookup after the TTL = %d, want 401", code)
	}
	tok = token()
	if code, _, _ := call(t, srv, "POST", "/dev/crm/tokens/expire", ""); code != 204 {
		t.Errorf("POST /dev/crm/tokens/expire = %d, want 204", code)
	}
	if code := lookup(tok); code != 401 {
		t.Errorf("lookup after expire-all = %d, want 401", code)
	}
	if n := s.TokensIssued(); n != 2 {
		t.Errorf("TokensIssued = %d, want 2", n)
	}
}
