package identity

import (
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// TestNewKeySetDropsSymmetricKeys: an "oct" key in the JWKS is never used,
// whatever the allowlist says, so no token can be verified by HMAC with a
// key the provider published.
func TestNewKeySetDropsSymmetricKeys(t *testing.T) {
	set, err := jwk.Parse([]byte(`{"keys":[{"kty":"oct","kid":"shared","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ks := newKeySet(set, map[string]jwa.SignatureAlgorithm{"RS256": jwa.RS256(), "HS256": jwa.HS256()})
	if len(ks.all) != 0 {
		t.Errorf("newKeySet kept %d symmetric keys, want none", len(ks.all))
	}
}
