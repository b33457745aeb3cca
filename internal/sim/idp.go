package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// IdPOptions tune NewIdP. Only Issuer matters in practice: it must be the
// URL the IdP's Handler is served at (listen first, then build the IdP).
type IdPOptions struct {
	// Issuer is the issuer URL, such as "http://127.0.0.1:43123". Every
	// endpoint is served under its path. Default "http://127.0.0.1".
	Issuer string
	// Audience is the aud of minted tokens unless MintAudience says
	// otherwise. Default "holdline".
	Audience string
	// ClientID and ClientSecret authenticate introspection and token
	// requests with HTTP Basic. Defaults "holdline" and "holdline-secret".
	ClientID     string
	ClientSecret string
	// Alg is the signing algorithm: RS256 (default, 2048-bit RSA keys) or
	// ES256 (P-256 keys).
	Alg string
	// TokenTTL is the lifetime of minted tokens. Default 1h.
	TokenTTL time.Duration
	// JWKSMaxAge is sent as Cache-Control max-age on the JWKS. Default 5m.
	JWKSMaxAge time.Duration
	// Mode is the initial fault mode. Default IdPModeOK.
	Mode IdPMode
	// Now is the clock for minted tokens and introspection. Default time.Now.
	Now func() time.Time
}

// IdPMode is the fault mode of an IdP simulator. It applies to every
// provider route (discovery, JWKS, token, introspection), never to the dev
// routes.
type IdPMode string

const (
	// IdPModeOK answers normally.
	IdPModeOK IdPMode = "ok"
	// IdPModeHang holds each request until the client gives up (or 10s
	// pass, then answers 504).
	IdPModeHang IdPMode = "hang"
	// IdPMode503 answers 503 Service Unavailable.
	IdPMode503 IdPMode = "503"
	// IdPModeDown drops each connection without an answer (a TCP reset),
	// as a provider that is down behind a load balancer does.
	IdPModeDown IdPMode = "down"
)

// The endpoint names Hits counts.
const (
	IdPDiscovery  = "discovery"
	IdPJWKS       = "jwks"
	IdPToken      = "token"
	IdPIntrospect = "introspect"
	IdPRevoke     = "revoke"
)

// IdP simulates an OpenID Connect provider: discovery, a JWKS with key
// rotation, a client-credentials token endpoint, RFC 7662 introspection of
// opaque tokens and JWTs, revocation, fault modes and hit counters. Routes,
// under the issuer's path:
//
//	GET  /.well-known/openid-configuration
//	GET  /jwks         the public keys, with Cache-Control max-age
//	POST /token        grant_type=client_credentials (Basic auth) -> a JWT
//	POST /introspect   token=... (Basic auth) -> RFC 7662 answer
//	POST /revoke       token=... (Basic auth) -> RFC 7009 revocation
//
// It is safe for concurrent use.
type IdP struct {
	opts   IdPOptions
	now    func() time.Time
	prefix string // the issuer's path, without a trailing slash

	mu      sync.Mutex
	mode    IdPMode
	keys    []*idpKey // published; the last one signs
	opaque  map[string]idpGrant
	revoked map[string]bool // jti or opaque token
	hits    map[string]int64
	seq     int
}

// idpKey is one signing key pair.
type idpKey struct {
	kid    string
	alg    jwa.SignatureAlgorithm
	priv   jwk.Key
	public jwk.Key
	pem    []byte // the public key in PEM, for the HMAC confusion attack
}

// idpGrant is what an opaque token stands for.
type idpGrant struct {
	sub    string
	aud    []string
	scopes []string
	iat    time.Time
	exp    time.Time
}

// NewIdP returns a simulator with one signing key. It panics only if the
// system cannot generate a key or Alg is not RS256 or ES256 (a programmer
// error).
func NewIdP(opts IdPOptions) *IdP {
	if opts.Issuer == "" {
		opts.Issuer = "http://127.0.0.1"
	}
	opts.Issuer = strings.TrimRight(opts.Issuer, "/")
	if opts.Audience == "" {
		opts.Audience = "holdline"
	}
	if opts.ClientID == "" {
		opts.ClientID = "holdline"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "holdline-secret"
	}
	if opts.Alg == "" {
		opts.Alg = "RS256"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.JWKSMaxAge <= 0 {
		opts.JWKSMaxAge = 5 * time.Minute
	}
	if opts.Mode == "" {
		opts.Mode = IdPModeOK
	}
	p := &IdP{
		opts:    opts,
		now:     opts.Now,
		mode:    opts.Mode,
		opaque:  map[string]idpGrant{},
		revoked: map[string]bool{},
		hits:    map[string]int64{},
	}
	if p.now == nil {
		p.now = time.Now
	}
	if u, err := url.Parse(opts.Issuer); err == nil {
		p.prefix = strings.TrimRight(u.Path, "/")
	}
	p.RotateKey()
	return p
}

// Issuer returns the issuer URL.
func (p *IdP) Issuer() string { return p.opts.Issuer }

// ClientID returns the client id introspection requires.
func (p *IdP) ClientID() string { return p.opts.ClientID }

// ClientSecret returns the client secret introspection requires.
func (p *IdP) ClientSecret() string { return p.opts.ClientSecret }

// RotateKey generates a new signing key, publishes it next to the old ones
// and signs every token minted from now on with it. It returns the new
// key's kid.
func (p *IdP) RotateKey() string {
	p.mu.Lock()
	p.seq++
	kid := fmt.Sprintf("key-%d", p.seq)
	p.mu.Unlock()
	k := newIdPKey(p.opts.Alg, kid)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, k)
	return kid
}

// RetireKeys unpublishes every key but the current signing key.
func (p *IdP) RetireKeys() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = p.keys[len(p.keys)-1:]
}

func newIdPKey(alg, kid string) *idpKey {
	var raw any
	var err error
	k := &idpKey{kid: kid}
	switch alg {
	case "RS256":
		k.alg = jwa.RS256()
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		k.alg = jwa.ES256()
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		panic(fmt.Sprintf("sim: IdP alg %q is not RS256 or ES256", alg))
	}
	if err != nil {
		panic(fmt.Sprintf("sim: generate IdP key: %v", err))
	}
	if k.priv, err = jwk.Import(raw); err != nil {
		panic(fmt.Sprintf("sim: import IdP key: %v", err))
	}
	if k.public, err = k.priv.PublicKey(); err != nil {
		panic(fmt.Sprintf("sim: IdP public key: %v", err))
	}
	for _, key := range []jwk.Key{k.priv, k.public} {
		_ = key.Set(jwk.KeyIDKey, kid)
		_ = key.Set(jwk.AlgorithmKey, k.alg)
		_ = key.Set(jwk.KeyUsageKey, jwk.ForSignature)
	}
	pub, err := jwk.PublicRawKeyOf(raw)
	if err != nil {
		panic(fmt.Sprintf("sim: IdP public key: %v", err))
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal IdP public key: %v", err))
	}
	k.pem = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return k
}

// DropKey unpublishes the key kid (the IdP stops trusting it; tokens it
// signed should stop verifying at the verifier's next fetch). Dropping the
// signing key makes the previous published key sign. It reports whether
// kid was published; the last key is never dropped.
func (p *IdP) DropKey(kid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, k := range p.keys {
		if k.kid == kid && len(p.keys) > 1 {
			p.keys = append(p.keys[:i:i], p.keys[i+1:]...)
			return true
		}
	}
	return false
}

// SigningKID returns the kid of the key that signs new tokens.
func (p *IdP) SigningKID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[len(p.keys)-1].kid
}

// SetJWKSMaxAge changes the Cache-Control max-age sent with the JWKS from
// now on.
func (p *IdP) SetJWKSMaxAge(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.JWKSMaxAge = d
}

// SetMode changes the fault mode for requests that arrive from now on. An
// unknown mode is an error and changes nothing.
func (p *IdP) SetMode(m IdPMode) error {
	switch m {
	case IdPModeOK, IdPModeHang, IdPMode503, IdPModeDown:
	default:
		return fmt.Errorf("mode: %q is not one of ok, hang, 503, down", m)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	return nil
}

// Mode returns the current fault mode.
func (p *IdP) Mode() IdPMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Hits returns how many requests each endpoint (IdPDiscovery, IdPJWKS,
// IdPToken, IdPIntrospect) has received, faulted ones included.
func (p *IdP) Hits() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.hits))
	for k, v := range p.hits {
		out[k] = v
	}
	return out
}

// Hit returns the number of requests one endpoint has received.
func (p *IdP) Hit(endpoint string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[endpoint]
}

// Revoke makes introspection answer {"active": false} for token from now
// on: an opaque token, or a JWT (by its jti). Tokens already verified
// locally against the JWKS stay valid until they expire, as with a real
// provider.
func (p *IdP) Revoke(token string) {
	id := token
	if t, err := jwt.ParseInsecure([]byte(token)); err == nil {
		if jti, ok := t.JwtID(); ok {
			id = jti
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked[id] = true
}

// MintOption changes one property of a minted token.
type MintOption func(*mint)

type mint struct {
	aud       []string
	iss       string
	exp, nbf  time.Time
	iat       time.Time
	kid       *string
	alg       string
	scopes    []string
	claims    map[string]any
	setIat    bool
	noExpClam bool
	typ       *string
}

// MintExpiresAt sets exp (default now + TokenTTL).
func MintExpiresAt(t time.Time) MintOption { return func(m *mint) { m.exp = t } }

// MintNoExpiry leaves exp out.
func MintNoExpiry() MintOption { return func(m *mint) { m.noExpClam = true } }

// MintNotBefore sets nbf (default: none).
func MintNotBefore(t time.Time) MintOption { return func(m *mint) { m.nbf = t } }

// MintIssuedAt sets iat (default now).
func MintIssuedAt(t time.Time) MintOption { return func(m *mint) { m.iat, m.setIat = t, true } }

// MintAudience sets aud (default IdPOptions.Audience).
func MintAudience(aud ...string) MintOption { return func(m *mint) { m.aud = aud } }

// MintIssuer sets iss (default the IdP's issuer).
func MintIssuer(iss string) MintOption { return func(m *mint) { m.iss = iss } }

// MintKID puts kid in the header instead of the signing key's own kid; the
// token is still signed with the current key.
func MintKID(kid string) MintOption { return func(m *mint) { m.kid = &kid } }

// MintScopes sets the space-separated scope claim.
func MintScopes(scopes ...string) MintOption { return func(m *mint) { m.scopes = scopes } }

// MintClaim adds a private claim.
func MintClaim(name string, v any) MintOption {
	return func(m *mint) {
		if m.claims == nil {
			m.claims = map[string]any{}
		}
		m.claims[name] = v
	}
}

// MintType sets the typ header (default "at+jwt", the RFC 9068 access
// token type); "" leaves typ out. "JWT" makes a token shaped like an ID
// token.
func MintType(typ string) MintOption { return func(m *mint) { m.typ = &typ } }

// MintAlg signs with another algorithm, for attack tests: "none" leaves the
// token unsigned, and "HS256" signs it with HMAC keyed by the current
// public key's PEM bytes (the algorithm-confusion attack). Any other value
// is the key's own algorithm.
func MintAlg(alg string) MintOption { return func(m *mint) { m.alg = alg } }

// Mint returns a signed JWT for sub with jti, iat, exp, iss and aud set
// (see the MintOption functions). It returns an error only if signing
// fails.
func (p *IdP) Mint(sub string, opts ...MintOption) (string, error) {
	now := p.now()
	m := mint{aud: []string{p.opts.Audience}, iss: p.opts.Issuer, iat: now, exp: now.Add(p.opts.TokenTTL)}
	for _, o := range opts {
		o(&m)
	}
	p.mu.Lock()
	key := p.keys[len(p.keys)-1]
	p.seq++
	jti := fmt.Sprintf("jti-%d", p.seq)
	p.mu.Unlock()

	b := jwt.NewBuilder().Subject(sub).Issuer(m.iss).Audience(m.aud).IssuedAt(m.iat).JwtID(jti)
	if !m.noExpClam {
		b = b.Expiration(m.exp)
	}
	if !m.nbf.IsZero() {
		b = b.NotBefore(m.nbf)
	}
	if len(m.scopes) > 0 {
		b = b.Claim("scope", strings.Join(m.scopes, " "))
	}
	for k, v := range m.claims {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("sim: build token: %w", err)
	}
	kid := key.kid
	if m.kid != nil {
		kid = *m.kid
	}
	hdr := jws.NewHeaders()
	if kid != "" {
		_ = hdr.Set(jws.KeyIDKey, kid)
	}
	typ := "at+jwt"
	if m.typ != nil {
		typ = *m.typ
	}
	if typ != "" {
		_ = hdr.Set(jws.TypeKey, typ)
	}
	var signed []byte
	switch m.alg {
	case "none":
		signed, err = jwt.Sign(tok, jwt.WithInsecureNoSignature())
	case "HS256":
		signed, err = signJWS(tok, jwa.HS256(), key.pem, hdr)
	default:
		var raw any
		if err = jwk.Export(key.priv, &raw); err == nil {
			signed, err = signJWS(tok, key.alg, raw, hdr)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sim: sign token: %w", err)
	}
	return string(signed), nil
}

// signJWS signs tok's claims with exactly the headers in hdr (jwt.Sign
// would add typ JWT when hdr has none).
func signJWS(tok jwt.Token, alg jwa.SignatureAlgorithm, key any, hdr jws.Headers) ([]byte, error) {
	payload, err := json.Marshal(tok)
	if err != nil {
		return nil, err
	}
	return jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
}

// MintOpaque returns a random opaque access token for sub that
// introspection knows; exp, aud and scopes follow the same options as Mint
// (others are ignored).
func (p *IdP) MintOpaque(sub string, opts ...MintOption) string {
	now := p.now()
	m := mint{aud: []string{p.opts.Audience}, iat: now, exp: now.Add(p.opts.TokenTTL)}
	for _, o := range opts {
		o(&m)
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "op_" + hex.EncodeToString(b[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opaque[tok] = idpGrant{sub: sub, aud: m.aud, scopes: m.scopes, iat: m.iat, exp: m.exp}
	return tok
}

// publicSet returns the published JWKS.
func (p *IdP) publicSet() jwk.Set {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := jwk.NewSet()
	for _, k := range p.keys {
		_ = set.AddKey(k.public)
	}
	return set
}
