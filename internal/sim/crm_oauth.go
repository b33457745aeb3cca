package sim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// CRMOAuthPath is where the simulator's OAuth 2.0 token endpoint answers,
// Salesforce's path.
const CRMOAuthPath = "/services/oauth2/token"

// CRMOAuth makes the simulator an OAuth 2.0 authorization server for its
// own API: it issues access tokens at CRMOAuthPath and requires a live one
// on every dialect route instead of CRMOptions.Token.
type CRMOAuth struct {
	// ClientID and ClientSecret are accepted for grant_type
	// client_credentials, as form parameters or HTTP basic auth
	// (RFC 6749, section 2.3.1). ClientID is also the required iss of a
	// jwt-bearer assertion.
	ClientID     string
	ClientSecret string
	// PublicKey, when set, enables grant_type
	// urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523) as Salesforce
	// implements it: an RS256 assertion with iss the client id, sub
	// Username, aud the simulator's own origin (http://HOST) and an exp
	// no more than three minutes ahead.
	PublicKey *rsa.PublicKey
	Username  string
	// TTL, when positive, is how long an issued token lives; the answer
	// says so in expires_in. Zero: a token lives until ExpireTokens, and
	// the answer has no expires_in (as Salesforce's has none).
	TTL time.Duration
}

// oauthState is the issued tokens, guarded by CRM.mu.
type oauthState struct {
	tokens map[string]time.Time // token -> expiry; zero: no expiry
	issued int
}

// ExpireTokens ends every token issued so far: requests with them get 401
// from now on, as when a session times out or an admin revokes it.
func (c *CRM) ExpireTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.oauth.tokens)
}

// TokensIssued is how many access tokens the token endpoint has issued.
func (c *CRM) TokensIssued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.oauth.issued
}

// tokenLive reports whether tok is an issued, unexpired token.
func (c *CRM) tokenLive(tok string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.oauth.tokens[tok]
	return ok && (exp.IsZero() || c.now().Before(exp))
}

// serveToken is the token endpoint.
func (c *CRM) serveToken(w http.ResponseWriter, r *http.Request) {
	o := c.opts.OAuth
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != o.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(o.ClientSecret)) != 1 || o.ClientSecret == "" {
			oauthError(w, http.StatusBadRequest, "invalid_client", "invalid client credentials")
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if o.PublicKey == nil {
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
			return
		}
		if msg := c.checkAssertion(r.PostForm.Get("assertion"), "http://"+r.Host); msg != "" {
			oauthError(w, http.StatusBadRequest, "invalid_grant", msg)
			return
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
		return
	}
	tok := rand.Text()
	c.mu.Lock()
	var exp time.Time
	if o.TTL > 0 {
		exp = c.now().Add(o.TTL)
	}
	c.oauth.tokens[tok] = exp
	c.oauth.issued++
	c.mu.Unlock()
	answer := map[string]any{"access_token": tok, "token_type": "Bearer", "instance_url": "http://" + r.Host,
		"issued_at": c.now().UnixMilli()}
	if o.TTL > 0 {
		answer["expires_in"] = int(o.TTL / time.Second)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, answer)
}

// checkAssertion verifies a jwt-bearer assertion against Salesforce's
// rules and returns what is wrong, or "".
func (c *CRM) checkAssertion(assertion, aud string) string {
	o := c.opts.OAuth
	tok, err := josejwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "assertion is not an RS256 JWT"
	}
	var cl josejwt.Claims
	if err := tok.Claims(o.PublicKey, &cl); err != nil {
		return "invalid assertion signature"
	}
	now := c.now()
	switch {
	case cl.Issuer != o.ClientID:
		return "client identifier invalid" // iss
	case cl.Subject != o.Username:
		return "user hasn't approved this consumer" // sub
	case !cl.Audience.Contains(aud):
		return "audience is invalid"
	case cl.Expiry == nil || !now.Before(cl.Expiry.Time()) || cl.Expiry.Time().After(now.Add(3*time.Minute+5*time.Second)):
		return "expiration time is invalid: exp must be in the next three minutes"
	}
	return ""
}

// oauthError writes an RFC 6749 section 5.2 error answer.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// oauthAuthenticate requires a live issued bearer token on next.
func (c *CRM) oauthAuthenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !c.tokenLive(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sim", error="invalid_token"`)
			if strings.HasPrefix(r.URL.Path, "/services/") {
				writeJSON(w, http.StatusUnauthorized, []map[string]string{{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}})
				return
			}
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
