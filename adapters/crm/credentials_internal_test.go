package crm

import (
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/holdline/holdline/internal/config"
)

// TestTokenRenewedBeforeExpiry: a cached token is used until renew_before
// its expiry, a short-lived one until half its life, and one without an
// expiry until the CRM refuses it.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	c := &credentials{cfg: config.CRMAuth{RenewBefore: config.Duration(time.Minute)}, now: func() time.Time { return now }}
	for _, tc := range []struct {
		name   string
		life   time.Duration // 0: no expiry
		at     time.Duration // since the fetch
		cached bool
	}{
		{"hour token, fresh", time.Hour, 0, true},
		{"hour token, 61s before expiry", time.Hour, time.Hour - 61*time.Second, true},
		{"hour token, 60s before expiry", time.Hour, time.Hour - time.Minute, false},
		{"hour token, expired", time.Hour, 2 * time.Hour, false},
		{"30s token, 14s in", 30 * time.Second, 14 * time.Second, true},
		{"30s token, 15s in", 30 * time.Second, 15 * time.Second, false},
		{"no expiry, a day later", 0, 24 * time.Hour, true},
	} {
		tok := &oauth2.Token{AccessToken: "t", TokenType: "Bearer"}
		if tc.life > 0 {
			tok.Expiry = t0.Add(tc.life)
		}
		c.tok, c.fetched, c.gen = tok, t0, 0
		now = t0.Add(tc.at)
		if got := c.cached(0) != nil; got != tc.cached {
			t.Errorf("%s: cached = %v, want %v", tc.name, got, tc.cached)
		}
		if c.cached(1) != nil {
			t.Errorf("%s: a token fetched with an older secret is still used", tc.name)
		}
	}
}
