package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigValidateRefusesWhatServeRefusesForIdentity: identity problems
// that once passed `config validate` and failed `serve` (or refused every
// token) are reported by validate, each naming its key.
func TestConfigValidateRefusesWhatServeRefusesForIdentity(t *testing.T) {
	p := filepath.Join(t.TempDir(), "identity.yaml")
	body := `dependencies:
  crm:
    endpoints: {primary: https://crm.example.com}
identity:
  issuer: https://login.example.com/
  algorithms: [RS256, HS256]
  token_types: [""]
  jwks: {refresh_min: 2h}
`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	err := run(t.Context(), []string{"holdline", "config", "validate", p}, func(string) string { return "" }, &out, &errb)
	if code := exitCode(err, &errb); code != 1 {
		t.Fatalf("exit code = %d, want 1; stdout %q stderr %q", code, out.String(), errb.String())
	}
	for _, want := range []string{"identity.audience: must be set", "identity.algorithms[1]:", "identity.token_types[0]:", "identity.jwks.refresh_max:"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("config validate output lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "identity.issuer") {
		t.Errorf("an issuer with a trailing slash was refused; it is normalised against discovery:\n%s", errb.String())
	}
}
