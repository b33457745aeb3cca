package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// startIdP serves an IdP at its own issuer URL on 127.0.0.1.
func startIdP(t *testing.T, opts IdPOptions) (*IdP, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	opts.Issuer = "http://" + srv.Listener.Addr().String() + opts.Issuer
	p := NewIdP(opts)
	mux := http.NewServeMux()
	mux.Handle("/", p.Handler())
	mux.Handle("/dev/idp/", p.DevHandler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return p, srv
}

func getJSON(t *testing.T, u string) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func introspect(t *testing.T, u, id, secret, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST introspect: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestIdPDiscoveryAndJWKSRotation(t *testing.T) {
	p, _ := startIdP(t, IdPOptions{Issuer: "/realms/acme"})
	code, doc, _ := getJSON(t, p.Issuer()+"/.well-known/openid-configuration")
	if code != http.StatusOK || doc["issuer"] != p.Issuer() || doc["jwks_uri"] != p.Issuer()+"/jwks" ||
		doc["introspection_endpoint"] != p.Issuer()+"/introspect" {
		t.Fatalf("discovery = %d %v", code, doc)
	}

	kids := func() []string {
		resp, err := http.Get(p.Issuer() + "/jwks")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("JWKS Cache-Control = %q, want public, max-age=300", cc)
		}
		b, _ := io.ReadAll(resp.Body)
		set, err := jwk.Parse(b)
		if err != nil {
			t.Fatalf("parse JWKS: %v", err)
		}
		var out []string
		for i := range set.Len() {
			k, _ := set.Key(i)
			if _, err := jwk.PublicRawKeyOf(k); err != nil {
				t.Errorf("JWKS key %d is not a public key: %v", i, err)
			}
			if _, isPrivate := k.(jwk.RSAPrivateKey); isPrivate {
				t.Errorf("JWKS publishes a private key")
			}
			kid, _ := k.KeyID()
			out = append(out, kid)
		}
		return out
	}
	if diff := cmp.Diff([]string{"key-1"}, kids()); diff != "" {
		t.Errorf("JWKS kids (-want +got):\n%s", diff)
	}
	if kid := p.RotateKey(); kid != "key-2" {
		t.Errorf("RotateKey = %q, want key-2", kid)
	}
	if diff := cmp.Diff([]string{"key-1", "key-2"}, kids()); diff != "" {
		t.Errorf("JWKS kids after rotation (-want +got):\n%s", diff)
	}
	p.RetireKeys()
	if diff := cmp.Diff([]string{"key-2"}, kids()); diff != "" {
		t.Errorf("JWKS kids after RetireKeys (-want +got):\n%s", diff)
	}
	if got := p.Hits(); got[IdPDiscovery] != 1 || got[IdPJWKS] != 3 {
		t.Errorf("Hits = %v, want discovery 1, jwks 3", got)
	}
}

func TestIdPMintedTokenShape(t *testing.T) {
	p, _ := startIdP(t, IdPOptions{Alg: "ES256"})
	tok, err := p.Mint("agent", MintScopes("a", "b"), MintKID("custom"), MintClaim("tenant", "acme"))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseInsecure([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := parsed.Subject()
	iss, _ := parsed.Issuer()
	aud, _ := parsed.Audience()
	var scope, tenant string
	_ = parsed.Get("scope", &scope)
	_ = parsed.Get("tenant", &tenant)
	got := []string{sub, iss, strings.Join(aud, ","), scope, tenant}
	want := []string{"agent", p.Issuer(), "holdline", "a b", "acme"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("minted claims (-want +got):\n%s", diff)
	}
	hdr := decodeSegment(t, tok, 0)
	if hdr["kid"] != "custom" || hdr["alg"] != "ES256" || hdr["typ"] != "at+jwt" {
		t.Errorf("header = %v, want kid custom, alg ES256, typ at+jwt", hdr)
	}
	for typ, want := range map[string]any{"JWT": "JWT", "": nil} {
		tok, err := p.Mint("x", MintType(typ))
		if err != nil {
			t.Fatal(err)
		}
		if h := decodeSegment(t, tok, 0); h["typ"] != want {
			t.Errorf("Mint(MintType(%q)) header = %v, want typ %v", typ, h, want)
		}
	}
	for _, alg := range []string{"none", "HS256"} {
		tok, err := p.Mint("x", MintAlg(alg))
		if err != nil {
			t.Fatalf("Mint(alg %s): %v", alg, err)
		}
		if h := decodeSegment(t, tok, 0); h["alg"] != alg {
			t.Errorf("Mint(alg %s) header = %v", alg, h)
		}
	}
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	seg := strings.Split(tok, ".")[i]
	b, err := jwkBase64(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIdPIntrospection(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p, _ := startIdP(t, IdPOptions{Now: clock})
	u := p.Issuer() + "/introspect"
	opaque := p.MintOpaque("agent", MintScopes("s1"))
	jwtTok, err := p.Mint("agent-jwt")
	if err != nil {
		t.Fatal(err)
	}

	if code, _ := introspect(t, u, "", "", opaque); code != http.StatusUnauthorized {
		t.Errorf("introspect without client auth = %d, want 401", code)
	}
	if code, _ := introspect(t, u, "holdline", "wrong", opaque); code != http.StatusUnauthorized {
		t.Errorf("introspect with a wrong secret = %d, want 401", code)
	}
	code, m := introspect(t, u, "holdline", "holdline-secret", opaque)
	want := map[string]any{
		"active": true, "sub": "agent", "aud": []any{"holdline"}, "scope": "s1", "client_id": "holdline",
		"token_type": "Bearer", "iss": p.Issuer(), "iat": float64(now.Unix()), "exp": float64(now.Add(time.Hour).Unix()),
	}
	if diff := cmp.Diff(want, m); code != http.StatusOK || diff != "" {
		t.Errorf("introspect(opaque) = %d (-want +got):\n%s", code, diff)
	}
	if _, m := introspect(t, u, "holdline", "holdline-secret", jwtTok); m["active"] != true || m["sub"] != "agent-jwt" {
		t.Errorf("introspect(jwt) = %v, want active for agent-jwt", m)
	}
	p.Revoke(opaque)
	p.Revoke(jwtTok)
	for _, tok := range []string{opaque, jwtTok, "op_unknown"} {
		if _, m := introspect(t, u, "holdline", "holdline-secret", tok); !cmp.Equal(m, map[string]any{"active": false}) {
			t.Errorf("introspect(revoked or unknown) = %v, want only active false", m)
		}
	}
	if got := p.Hit(IdPIntrospect); got != 7 {
		t.Errorf("introspect hits = %d, want 7", got)
	}
}

func TestIdPTokenEndpoint(t *testing.T) {
	p, _ := startIdP(t, IdPOptions{})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, p.Issuer()+"/token",
		strings.NewReader("grant_type=client_credentials&scope=crm.read"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.ClientID(), p.ClientSecret())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.TokenType != "Bearer" {
		t.Fatalf("POST /token = %d %+v %v", resp.StatusCode, out, err)
	}
	if c := decodeSegment(t, out.AccessToken, 1); c["sub"] != "holdline" || c["scope"] != "crm.read" {
		t.Errorf("token claims = %v, want sub holdline, scope crm.read", c)
	}
}

func TestIdPModes(t *testing.T) {
	p, _ := startIdP(t, IdPOptions{})
	jwksURL := p.Issuer() + "/jwks"
	if err := p.SetMode("sideways"); err == nil {
		t.Errorf("SetMode(sideways) = nil, want an error")
	}

	_ = p.SetMode(IdPMode503)
	if code, _, _ := getJSON(t, jwksURL); code != http.StatusServiceUnavailable {
		t.Errorf("JWKS in 503 mode = %d", code)
	}

	_ = p.SetMode(IdPModeDown)
	if _, err := http.Get(jwksURL); err == nil {
		t.Errorf("JWKS in down mode answered, want a dropped connection")
	}

	_ = p.SetMode(IdPModeHang)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	// The client, not the simulator, ends the call: the hang holds the
	// request until the client's deadline passes.
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("JWKS in hang mode = %v, want the client to give up at its deadline", err)
	}

	// net/http retries a GET once on a reused connection that was reset.
	if got := p.Hit(IdPJWKS); got < 3 || got > 4 {
		t.Errorf("JWKS hits = %d, want 3 or 4 (faulted requests count)", got)
	}
}

func TestIdPDevHandler(t *testing.T) {
	p, srv := startIdP(t, IdPOptions{})
	code, m, _ := getJSON(t, srv.URL+"/dev/idp/token?sub=ada")
	if code != http.StatusOK {
		t.Fatalf("GET /dev/idp/token = %d %v", code, m)
	}
	jwtTok, _ := m["jwt"].(string)
	opaque, _ := m["opaque"].(string)
	if c := decodeSegment(t, jwtTok, 1); c["sub"] != "ada" {
		t.Errorf("dev jwt claims = %v, want sub ada", c)
	}
	if _, in := introspect(t, p.Issuer()+"/introspect", p.ClientID(), p.ClientSecret(), opaque); in["sub"] != "ada" {
		t.Errorf("introspect(dev opaque) = %v, want sub ada", in)
	}

	resp, err := http.Post(srv.URL+"/dev/idp/mode", "application/json", strings.NewReader(`{"mode":"503"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if p.Mode() != IdPMode503 {
		t.Errorf("Mode after POST /dev/idp/mode = %q, want 503", p.Mode())
	}
	// Dev routes ignore faults.
	if code, _, _ := getJSON(t, srv.URL+"/dev/idp/stats"); code != http.StatusOK {
		t.Errorf("GET /dev/idp/stats in 503 mode = %d, want 200", code)
	}
}

func jwkBase64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func TestIdPRevocationEndpointAndDropKey(t *testing.T) {
	p, srv := startIdP(t, IdPOptions{})
	_, disc, _ := getJSON(t, srv.URL+"/.well-known/openid-configuration")
	if disc["revocation_endpoint"] != p.Issuer()+"/revoke" {
		t.Errorf("revocation_endpoint = %v", disc["revocation_endpoint"])
	}
	tok := p.MintOpaque("agent")
	if code, _ := introspect(t, srv.URL+"/revoke", "holdline", "wrong", tok); code != http.StatusUnauthorized {
		t.Errorf("POST /revoke with a wrong secret = %d, want 401", code)
	}
	if _, m := introspect(t, srv.URL+"/introspect", "holdline", "holdline-secret", tok); m["active"] != true {
		t.Fatalf("introspect before revocation = %v, want active", m)
	}
	if code, _ := introspect(t, srv.URL+"/revoke", "holdline", "holdline-secret", tok); code != http.StatusOK {
		t.Errorf("POST /revoke = %d, want 200", code)
	}
	if _, m := introspect(t, srv.URL+"/introspect", "holdline", "holdline-secret", tok); m["active"] != false {
		t.Errorf("introspect after revocation = %v, want inactive", m)
	}

	old := p.SigningKID()
	next := p.RotateKey()
	if !p.DropKey(old) || p.DropKey(old) {
		t.Errorf("DropKey(%s) twice = want true then false", old)
	}
	if p.DropKey(next) {
		t.Errorf("DropKey(last key) = true, want the last key kept")
	}
	_, set, _ := getJSON(t, srv.URL+"/jwks")
	keys, _ := set["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["kid"] != next {
		t.Errorf("jwks after DropKey = %v, want only %s", set, next)
	}
}
