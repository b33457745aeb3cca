package sim

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Handler serves the provider routes under the issuer's path. Fault modes
// apply to all of them; hits are counted before the fault.
func (p *IdP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p.prefix+"/.well-known/openid-configuration", p.route(IdPDiscovery, p.discovery))
	mux.HandleFunc("GET "+p.prefix+"/jwks", p.route(IdPJWKS, p.jwks))
	mux.HandleFunc("POST "+p.prefix+"/token", p.route(IdPToken, p.token))
	mux.HandleFunc("POST "+p.prefix+"/introspect", p.route(IdPIntrospect, p.introspect))
	mux.HandleFunc("POST "+p.prefix+"/revoke", p.route(IdPRevoke, p.revoke))
	return mux
}

// route counts the hit and applies the fault mode before h.
func (p *IdP) route(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[name]++
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case IdPMode503:
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		case IdPModeDown:
			reset(w)
			return
		case IdPModeHang:
			_, _ = io.Copy(io.Discard, r.Body)
			if sleep(r, 10*time.Second) {
				http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
			}
			return
		}
		h(w, r)
	}
}

func (p *IdP) discovery(w http.ResponseWriter, r *http.Request) {
	iss := p.opts.Issuer
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                        iss,
		"jwks_uri":                                      iss + "/jwks",
		"token_endpoint":                                iss + "/token",
		"introspection_endpoint":                        iss + "/introspect",
		"revocation_endpoint":                           iss + "/revoke",
		"authorization_endpoint":                        iss + "/authorize",
		"response_types_supported":                      []string{"token"},
		"subject_types_supported":                       []string{"public"},
		"grant_types_supported":                         []string{"client_credentials"},
		"id_token_signing_alg_values_supported":         []string{p.opts.Alg},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
	})
}

func (p *IdP) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := json.Marshal(p.publicSet())
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	p.mu.Lock()
	maxAge := p.opts.JWKSMaxAge
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge/time.Second)))
	_, _ = w.Write(b)
}

// clientOK checks HTTP Basic client authentication in constant time.
func (p *IdP) clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	return ok &&
		subtle.ConstantTimeCompare([]byte(id), []byte(p.opts.ClientID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(p.opts.ClientSecret)) == 1
}

func (p *IdP) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="idp"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
}

// token implements the client-credentials grant: the token's sub is the
// client id, or the sub form value when given (a simulator liberty).
func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	if !p.clientOK(r) {
		p.unauthorized(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	sub := r.PostForm.Get("sub")
	if sub == "" {
		sub = p.opts.ClientID
	}
	var opts []MintOption
	if s := r.PostForm.Get("scope"); s != "" {
		opts = append(opts, MintScopes(strings.Fields(s)...))
	}
	tok, err := p.Mint(sub, opts...)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(p.opts.TokenTTL / time.Second),
	})
}

// revoke implements RFC 7009: the token (opaque, or a JWT by its jti) is
// inactive to introspection from now on. Unknown tokens are answered 200
// too, as the RFC requires.
func (p *IdP) revoke(w http.ResponseWriter, r *http.Request) {
	if !p.clientOK(r) {
		p.unauthorized(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	p.Revoke(r.PostForm.Get("token"))
	w.WriteHeader(http.StatusOK)
}

// introspect answers RFC 7662: active with claims for a known, unrevoked,
// unexpired token, and only {"active": false} otherwise.
func (p *IdP) introspect(w http.ResponseWriter, r *http.Request) {
	if !p.clientOK(r) {
		p.unauthorized(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	tok := r.PostForm.Get("token")
	now := p.now()
	inactive := map[string]any{"active": false}

	p.mu.Lock()
	g, known := p.opaque[tok]
	revoked := p.revoked[tok]
	p.mu.Unlock()
	if known {
		if revoked || !now.Before(g.exp) {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		out := map[string]any{
			"active": true, "sub": g.sub, "aud": g.aud,
			"client_id": p.opts.ClientID, "token_type": "Bearer", "iss": p.opts.Issuer,
			"iat": g.iat.Unix(), "exp": g.exp.Unix(),
		}
		if len(g.scopes) > 0 {
			out["scope"] = strings.Join(g.scopes, " ")
		}
		writeJSON(w, http.StatusOK, out)
		return
	}

	t, err := jwt.ParseString(tok, jwt.WithKeySet(p.publicSet()), jwt.WithValidate(true),
		jwt.WithIssuer(p.opts.Issuer), jwt.WithClock(jwt.ClockFunc(p.now)))
	if err != nil {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	if jti, _ := t.JwtID(); jti != "" {
		p.mu.Lock()
		revoked = p.revoked[jti]
		p.mu.Unlock()
	}
	if revoked {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	out := map[string]any{"active": true, "token_type": "Bearer"}
	for _, k := range t.Keys() {
		var v any
		if t.Get(k, &v) == nil {
			if tv, ok := v.(time.Time); ok {
				v = tv.Unix()
			}
			out[k] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}
