package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "recordings: {bucket: recordings}\ndependencies:\n  crm:\n    endpoints: {primary: https://crm.example.com}\n")
	bad := write("bad.yaml", "recordings: {bucket: recordings}\ndependencies:\n  crm:\n    endpoints: {primary: https://crm.example.com}\n    timout: 1s\n    breaker: {open_for: soon}\n")
	env := func(k string) string {
		return map[string]string{"HOLDLINE_ONCALL_TOKEN": "0123456789abcdef01", "SALESFORCE_TOKEN": "x", "IDP_CLIENT_SECRET": "y"}[k]
	}
	tests := []struct {
		name     string
		file     string
		wantCode int
		want     []string
	}{
		{"good", good, 0, []string{"ok"}},
		{"example", filepath.Join("..", "..", "examples", "holdline.yaml"), 0, []string{"ok"}},
		{"bad", bad, 1, []string{"dependencies.crm.timout: line 5: unknown key", "dependencies.crm.breaker.open_for: line 6: invalid duration \"soon\""}},
		{"missing file", filepath.Join(dir, "nope.yaml"), 1, []string{"no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuffer
			err := run(t.Context(), []string{"holdline", "config", "validate", tt.file}, env, &out, &errb)
			code := exitCode(err, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d; stdout %q stderr %q", code, tt.wantCode, out.String(), errb.String())
			}
			all := out.String() + errb.String()
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if tt.name == "bad" {
				// every problem on its own line
				for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n")[1:] {
					if !strings.HasPrefix(l, "dependencies.") {
						t.Errorf("problem line %q does not start with its key path", l)
					}
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out, errb syncBuffer
	if err := run(t.Context(), []string{"holdline", "version"}, os.Getenv, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "holdline ") {
		t.Errorf("version = %q", out.String())
	}
}
