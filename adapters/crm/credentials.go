package crm

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// ErrTokenRefused is returned when the OAuth token endpoint refuses
// holdline's client credentials or assertion (a 400 or 401 answer such as
// invalid_client or invalid_grant: a wrong secret, a revoked key). It
// wraps a *upstream.StatusError 401, so the write waits in the outbox and
// the dependency shows auth_failed, as for a CRM 401.
var ErrTokenRefused = errors.New("crm: token endpoint refused the credentials")

// assertionLife is how long a jwt_bearer assertion is valid: Salesforce
// refuses an exp more than three minutes ahead.
const assertionLife = 2 * time.Minute

// credentials put holdline's credentials on CRM requests: a static
// secret, or an OAuth 2.0 access token it fetches, caches, renews before
// expiry and renews at once when the CRM answers 401. Its secret (the
// static secret, the client secret, or the jwt_bearer private key) may
// come from a file that it re-reads when it changes. It is safe for
// concurrent use.
type credentials struct {
	cfg      config.CRMAuth
	hc       *http.Client
	endpoint func() string
	now      func() time.Time
	secret   *secretValue  // nil for type none
	fetching chan struct{} // holds one token: one fetch at a time

	mu      sync.Mutex
	tok     *oauth2.Token
	fetched time.Time // when tok was fetched
	gen     uint64    // the secret's generation tok was fetched with
}

// newCredentials reads the secret (from its file, when set) and, for
// jwt_bearer, parses the private key; every problem names its config key.
func newCredentials(a config.CRMAuth, hc *http.Client, endpoint func() string, now func() time.Time) (*credentials, error) {
	c := &credentials{cfg: a, hc: hc, endpoint: endpoint, now: now, fetching: make(chan struct{}, 1)}
	poll := a.FilePoll.D()
	if poll <= 0 {
		poll = 10 * time.Second
	}
	var err error
	switch a.Type {
	case "header", "basic", "bearer":
		if c.secret, err = newSecretValue(a.Secret, a.SecretFile, poll, now); err != nil {
			return nil, fmt.Errorf("dependencies.crm.auth.secret_file: %w", err)
		}
	case "client_credentials":
		if c.secret, err = newSecretValue(a.ClientSecret, a.ClientSecretFile, poll, now); err != nil {
			return nil, fmt.Errorf("dependencies.crm.auth.client_secret_file: %w", err)
		}
	case "jwt_bearer":
		if a.PrivateKeyFile == "" {
			return nil, errors.New("dependencies.crm.auth.private_key_file: must be set for auth.type jwt_bearer")
		}
		if c.secret, err = newSecretValue("", a.PrivateKeyFile, poll, now); err != nil {
			return nil, fmt.Errorf("dependencies.crm.auth.private_key_file: %w", err)
		}
		if pemKey, _ := c.secret.get(); checkPrivateKey(pemKey) != nil {
			return nil, fmt.Errorf("dependencies.crm.auth.private_key_file: %w", checkPrivateKey(pemKey))
		}
	}
	return c, nil
}

// CheckAuth reads the secret files a and parses the jwt_bearer private key,
// without a network call: the checks `holdline config validate` adds to
// the config's own. Each problem names its config key.
func CheckAuth(a config.CRMAuth) error {
	_, err := newCredentials(a, &http.Client{}, func() string { return "" }, time.Now)
	return err
}

// checkPrivateKey reports whether b is a PEM RSA private key (PKCS #1 or
// PKCS #8), the form golang.org/x/oauth2/jwt signs with.
func checkPrivateKey(b []byte) error {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return errors.New("not a PEM private key")
	}
	if _, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return errors.New("not an RSA private key (PKCS #1 or #8)")
	}
	if _, ok := k.(interface{ Size() int }); !ok {
		return errors.New("not an RSA private key")
	}
	return nil
}

// authorize sets req's credentials, fetching a token first when none is
// cached or the cached one is due for renewal.
func (c *credentials) authorize(ctx context.Context, req *http.Request) error {
	if c == nil {
		return nil
	}
	switch c.cfg.Type {
	case "header":
		v, _ := c.secret.get()
		req.Header.Set(c.cfg.Header, string(v))
	case "basic":
		v, _ := c.secret.get()
		req.SetBasicAuth(c.cfg.Username, string(v))
	case "bearer":
		v, _ := c.secret.get()
		req.Header.Set("Authorization", "Bearer "+string(v))
	case "client_credentials", "jwt_bearer":
		tok, err := c.token(ctx)
		if err != nil {
			return err
		}
		tok.SetAuthHeader(req)
	}
	return nil
}

// renew is called when the CRM answered 401 to a request that carried
// the Authorization (or auth header) value used. It drops the cached token
// if it is still that one and re-reads the secret file; it reports
// whether sending the request again may succeed: always for a token (the
// next authorize fetches a fresh one), and for a static secret only when
// its file changed.
func (c *credentials) renew(used string) bool {
	switch c.cfg.Type {
	case "header", "basic", "bearer":
		return c.secret.refresh()
	case "client_credentials", "jwt_bearer":
		c.secret.refresh()
		c.mu.Lock()
		if c.tok != nil && c.tok.Type()+" "+c.tok.AccessToken == used {
			c.tok = nil
		}
		c.mu.Unlock()
		return true
	}
	return false
}

// reload makes the next use re-read the secret file (SIGHUP).
func (c *credentials) reload() {
	if c.secret != nil {
		c.secret.reload()
	}
}

// token returns a valid cached token or fetches one; one fetch runs at a
// time and callers waiting for it honour ctx.
func (c *credentials) token(ctx context.Context) (*oauth2.Token, error) {
	secret, gen := c.secret.get()
	if tok := c.cached(gen); tok != nil {
		return tok, nil
	}
	select {
	case c.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.fetching }()
	if tok := c.cached(gen); tok != nil { // fetched while we waited
		return tok, nil
	}
	start := c.now()
	tok, err := c.fetch(ctx, secret)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tok, c.fetched, c.gen = tok, start, gen
	c.mu.Unlock()
	return tok, nil
}

// cached returns the cached token when it was fetched with the secret's
// generation gen and is not due for renewal: a token is renewed
// renew_before its expiry, or at half its life when that comes later (a
// short-lived token is not fetched for every call). A token without an
// expiry (Salesforce's) is kept until the CRM refuses it.
func (c *credentials) cached(gen uint64) *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil || c.tok.AccessToken == "" || c.gen != gen {
		return nil
	}
	if c.tok.Expiry.IsZero() {
		return c.tok
	}
	early := min(c.cfg.RenewBefore.D(), c.tok.Expiry.Sub(c.fetched)/2)
	if !c.now().Before(c.tok.Expiry.Add(-early)) {
		return nil
	}
	return c.tok
}

// fetch asks the token endpoint for a token, through the CRM's own HTTP
// client (its egress allowlist and fault injection apply) and bounded by
// ctx.
func (c *credentials) fetch(ctx context.Context, secret []byte) (*oauth2.Token, error) {
	tokenURL, err := c.tokenURL()
	if err != nil {
		return nil, err
	}
	hc := *c.hc
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	// golang.org/x/oauth2/jwt posts without a context: carry ctx on
	// every request the token client sends.
	hc.Transport = ctxTransport{ctx: ctx, rt: rt}
	octx := context.WithValue(ctx, oauth2.HTTPClient, &hc)
	var tok *oauth2.Token
	switch c.cfg.Type {
	case "client_credentials":
		cc := clientcredentials.Config{ClientID: c.cfg.ClientID, ClientSecret: string(secret), TokenURL: tokenURL,
			Scopes: c.cfg.Scopes, AuthStyle: oauth2.AuthStyleInParams}
		tok, err = cc.Token(octx)
	case "jwt_bearer":
		aud := c.cfg.Audience
		if aud == "" {
			aud = origin(tokenURL)
		}
		jc := jwt.Config{Email: c.cfg.ClientID, Subject: c.cfg.Username, PrivateKey: secret, Scopes: c.cfg.Scopes,
			TokenURL: tokenURL, Audience: aud, Expires: assertionLife}
		tok, err = jc.TokenSource(octx).Token()
	default:
		return nil, fmt.Errorf("crm: auth type %q fetches no token", c.cfg.Type)
	}
	if err != nil {
		return nil, tokenError(err, c.now())
	}
	return tok, nil
}

// tokenURL is auth.token_url, a path resolved against the endpoint.
func (c *credentials) tokenURL() (string, error) {
	u := c.cfg.TokenURL
	if strings.HasPrefix(u, "/") {
		b := strings.TrimRight(c.endpoint(), "/")
		if b == "" {
			return "", errors.New("no active endpoint")
		}
		u = b + u
	}
	return u, nil
}

// origin is u's scheme and host.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Scheme + "://" + p.Host
}

// tokenError maps a failed token fetch: a 400 or 401 answer (the
// endpoint refused the credentials) is ErrTokenRefused with a
// StatusError 401; another answer keeps its status (a 5xx is transient);
// a transport error keeps its cause. The answer's body is not kept: it
// is the endpoint's, and only its error code is safe to log.
func tokenError(err error, now time.Time) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("crm: fetch token: %s: %w", ue.Op, ue.Err)
		}
		return fmt.Errorf("crm: fetch token: %w", err)
	}
	code := re.Response.StatusCode
	if code == http.StatusBadRequest || code == http.StatusUnauthorized {
		return fmt.Errorf("%w (%s): %w", ErrTokenRefused, re.ErrorCode, &upstream.StatusError{Code: http.StatusUnauthorized})
	}
	return fmt.Errorf("crm: fetch token: %w", upstream.FromResponse(re.Response, now))
}

// ctxTransport sends every request with ctx.
type ctxTransport struct {
	ctx context.Context
	rt  http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(r.WithContext(t.ctx))
}
