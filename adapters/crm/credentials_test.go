package crm_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/upstream"
)

const (
	testClientID = "holdline-app"
	testSecret   = "s3cret-client-value"
	testUser     = "integration@acme.example"
)

// ccAuth is client_credentials auth against the simulator's token path.
func ccAuth(secret string) config.CRMAuth {
	a := config.Default().Dependencies.CRM.Auth
	a.Type, a.TokenURL, a.ClientID, a.ClientSecret = "client_credentials", sim.CRMOAuthPath, testClientID, config.Secret(secret)
	return a
}

// writeFile writes a file in the test's temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newAuthClient builds a kind's client with auth a against the CRM at url.
func newAuthClient(t *testing.T, kind string, a config.CRMAuth, url string) crm.Client {
	t.Helper()
	cfg := crmConfig(kind)
	cfg.Auth = a
	c, err := crm.New(cfg, &http.Client{}, func() string { return url })
	if err != nil {
		t.Fatalf("crm.New(%s): %v", kind, err)
	}
	return c
}

// writeTwice creates a record, expires every token the simulator issued,
// then adds a comment; it returns the record id.
func writeTwice(t *testing.T, c crm.Client, s *sim.CRM) string {
	t.Helper()
	id, err := c.CreateRecord(t.Context(), crm.NewRecord{InteractionID: "call-1", ContactID: "101", Phone: "+14155550100", Subject: "s"}, "call-1/record")
	if err != nil {
		t.Fatalf("CreateRecord: %v", err)
	}
	s.ExpireTokens() // the token dies mid-run
	if _, err := c.AddComment(t.Context(), id, crm.Comment{Body: "after expiry"}, "call-1/comment/1"); err != nil {
		t.Fatalf("AddComment after the token expired: %v", err)
	}
	return id
}

// commentsOn counts the comments on the simulator's record id.
func commentsOn(t *testing.T, s *sim.CRM, id string) int {
	t.Helper()
	r, ok := s.Record(id)
	if !ok {
		t.Fatalf("record %s is not in the simulator", id)
	}
	return len(r.Comments)
}

// TestClientCredentialsRenewOn401: a token that expires between two writes
// is renewed once and the write sent again: it lands exactly once.
func TestClientCredentialsRenewOn401(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			s, srv := startSim(t, sim.CRMOptions{OAuth: &sim.CRMOAuth{ClientID: testClientID, ClientSecret: testSecret}})
			c := newAuthClient(t, kind, ccAuth(testSecret), srv.URL)
			id := writeTwice(t, c, s)
			if n := commentsOn(t, s, id); n != 1 {
				t.Errorf("comments on the record = %d, want exactly 1", n)
			}
			if n := s.TokensIssued(); n != 2 {
				t.Errorf("tokens issued = %d, want 2 (one, then one renewal)", n)
			}
		})
	}
}

// TestWrongClientSecretIsAnAuthFailure: a refused client secret is a 401
// (auth_failed, the write waits), names no secret, and writes nothing.
func TestWrongClientSecretIsAnAuthFailure(t *testing.T) {
	s, srv := startSim(t, sim.CRMOptions{OAuth: &sim.CRMOAuth{ClientID: testClientID, ClientSecret: testSecret}})
	c := newAuthClient(t, "generic", ccAuth("wrong-secret-value"), srv.URL)
	before := len(s.Records())
	_, err := c.CreateRecord(t.Context(), crm.NewRecord{InteractionID: "call-2", ContactID: "101", Subject: "s"}, "call-2/record")
	if !errors.Is(err, crm.ErrTokenRefused) || !upstream.IsAuthFailure(err) {
		t.Fatalf("CreateRecord with a wrong secret = %v, want ErrTokenRefused and an auth failure", err)
	}
	if upstream.IsPermanent(err) && !upstream.IsAuthFailure(err) {
		t.Errorf("error %v would send the write to dead", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") || strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q holds a secret", err)
	}
	if n := len(s.Records()); n != before {
		t.Errorf("records = %d, want %d (nothing written)", n, before)
	}
}

// rsaKeyFile writes a fresh PKCS #8 PEM RSA key and returns its path and
// public key.
func rsaKeyFile(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))), &k.PublicKey
}

// TestJWTBearerSalesforce: the Salesforce JWT bearer flow (iss client id,
// sub username, aud the login origin, exp within three minutes, RS256)
// gets a token, renews it after an expiry, and a wrong username is
// refused as an auth failure.
func TestJWTBearerSalesforce(t *testing.T) {
	keyFile, pub := rsaKeyFile(t)
	s, srv := startSim(t, sim.CRMOptions{OAuth: &sim.CRMOAuth{ClientID: testClientID, PublicKey: pub, Username: testUser}})
	a := config.Default().Dependencies.CRM.Auth
	a.Type, a.TokenURL, a.ClientID, a.Username, a.PrivateKeyFile = "jwt_bearer", srv.URL+sim.CRMOAuthPath, testClientID, testUser, keyFile
	c := newAuthClient(t, "salesforce", a, srv.URL)
	id := writeTwice(t, c, s)
	if n := commentsOn(t, s, id); n != 1 {
		t.Errorf("comments on the record = %d, want exactly 1", n)
	}
	if n := s.TokensIssued(); n != 2 {
		t.Errorf("tokens issued = %d, want 2", n)
	}

	a.Username = "someone-else@acme.example"
	bad := newAuthClient(t, "salesforce", a, srv.URL)
	_, err := bad.CreateRecord(t.Context(), crm.NewRecord{InteractionID: "call-3", ContactID: "101", Subject: "s"}, "call-3/record")
	if !errors.Is(err, crm.ErrTokenRefused) || !upstream.IsAuthFailure(err) {
		t.Fatalf("CreateRecord with a sub the app does not know = %v, want ErrTokenRefused", err)
	}
}

// TestBadPrivateKeyFile: a key file that is not a PEM RSA key is refused
// at construction, naming its key (config validate runs this).
func TestBadPrivateKeyFile(t *testing.T) {
	a := config.Default().Dependencies.CRM.Auth
	a.Type, a.TokenURL, a.ClientID, a.Username = "jwt_bearer", "/services/oauth2/token", testClientID, testUser
	for name, file := range map[string]string{
		"missing":   filepath.Join(t.TempDir(), "nope.pem"),
		"not a key": writeFile(t, "key.pem", "hello\n"),
	} {
		a.PrivateKeyFile = file
		if err := crm.CheckAuth(a); err == nil || !strings.Contains(err.Error(), "dependencies.crm.auth.private_key_file") {
			t.Errorf("%s: CheckAuth = %v, want an error naming dependencies.crm.auth.private_key_file", name, err)
		}
	}
}

// TestClientSecretFileRotation: the client secret comes from a file; a
// rotated file is picked up on ReloadSecrets (SIGHUP) and, without it,
// when the poll interval has passed.
func TestClientSecretFileRotation(t *testing.T) {
	_, srv := startSim(t, sim.CRMOptions{OAuth: &sim.CRMOAuth{ClientID: testClientID, ClientSecret: testSecret}})
	for _, tc := range []struct {
		name   string
		poll   time.Duration
		reload bool
	}{
		{"sighup", time.Hour, true},
		{"poll", time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, "client_secret", "old-secret\n")
			a := ccAuth("")
			a.ClientSecretFile, a.FilePoll = file, config.Duration(tc.poll)
			c := newAuthClient(t, "generic", a, srv.URL)
			rec := crm.NewRecord{InteractionID: "call-" + tc.name, ContactID: "101", Subject: "s"}
			if _, err := c.CreateRecord(t.Context(), rec, "rot/"+tc.name); !errors.Is(err, crm.ErrTokenRefused) {
				t.Fatalf("CreateRecord with the old secret = %v, want ErrTokenRefused", err)
			}
			if err := os.WriteFile(file, []byte(testSecret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.reload {
				c.(crm.SecretReloader).ReloadSecrets()
			}
			if _, err := c.CreateRecord(t.Context(), rec, "rot/"+tc.name); err != nil {
				t.Fatalf("CreateRecord after the secret file was rotated: %v", err)
			}
		})
	}
}

// TestStaticSecretFileRereadOn401: a static bearer token from a file that
// the CRM refuses is re-read at once on the 401 (no waiting for the poll),
// and the call is sent again when the file changed.
func TestStaticSecretFileRereadOn401(t *testing.T) {
	_, srv := startSim(t, sim.CRMOptions{Token: "new-token"})
	file := writeFile(t, "token", "old-token")
	a := config.Default().Dependencies.CRM.Auth
	a.Type, a.SecretFile, a.FilePoll = "bearer", file, config.Duration(time.Hour)
	c := newAuthClient(t, "generic", a, srv.URL)
	if _, err := c.FindByPhone(t.Context(), "+14155550100"); !upstream.IsAuthFailure(err) {
		t.Fatalf("FindByPhone with the old token = %v, want a 401", err)
	}
	if err := os.WriteFile(file, []byte("new-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindByPhone(t.Context(), "+14155550100"); err != nil {
		t.Fatalf("FindByPhone after the token file changed: %v", err)
	}
}
