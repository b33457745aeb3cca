package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// minimal is the smallest good file: a CRM and a recording store.
const minimal = `
recordings: {bucket: recordings}
dependencies:
  crm:
    endpoints: {primary: https://crm.example.com}
`

func TestParseMinimalGetsDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), env(nil))
	if err != nil {
		t.Fatalf("Parse(minimal) error: %v", err)
	}
	if got := cfg.ScreenPop.Budget.D(); got != 300*time.Millisecond {
		t.Errorf("screen_pop.budget = %v, want 300ms", got)
	}
	if got := cfg.Dependencies.CRM.Timeout.D(); got != 800*time.Millisecond {
		t.Errorf("dependencies.crm.timeout = %v, want 800ms", got)
	}
	if got := cfg.Outbox.Retention.D(); got != 7*24*time.Hour {
		t.Errorf("outbox.retention = %v, want 7d", got)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.AdminListen != "127.0.0.1:9901" {
		t.Errorf("listen = %q, admin_listen = %q", cfg.Listen, cfg.AdminListen)
	}
}

func TestExampleConfigValidates(t *testing.T) {
	vars := map[string]string{"HOLDLINE_ONCALL_TOKEN": "0123456789abcdef0123", "SALESFORCE_TOKEN": "sf", "IDP_CLIENT_SECRET": "idp"}
	cfg, err := LoadFile(filepath.Join("..", "..", "examples", "holdline.yaml"), env(vars))
	if err != nil {
		t.Fatalf("examples/holdline.yaml does not validate:\n%v", err)
	}
	if cfg.Dependencies.CRM.Kind != "salesforce" || cfg.Dependencies.CRM.Auth.Secret.Reveal() != "sf" {
		t.Errorf("crm = %q / secret not expanded", cfg.Dependencies.CRM.Kind)
	}
}

func TestEnvExpansion(t *testing.T) {
	in := minimal + `
    auth: {type: bearer, secret: "${CRM_TOKEN}"}
    timeout: ${CRM_TIMEOUT:-250ms}
`
	cfg, err := Parse([]byte(in), env(map[string]string{"CRM_TOKEN": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dependencies.CRM.Auth.Secret.Reveal() != "s3cret" {
		t.Errorf("secret = %q, want s3cret", cfg.Dependencies.CRM.Auth.Secret.Reveal())
	}
	if cfg.Dependencies.CRM.Timeout.D() != 250*time.Millisecond {
		t.Errorf("timeout default from ${VAR:-250ms} = %v", cfg.Dependencies.CRM.Timeout)
	}
	if s := cfg.Dependencies.CRM.Auth.Secret.String(); strings.Contains(s, "s3cret") {
		t.Errorf("Secret.String() = %q leaks the value", s)
	}
}

// TestProblems checks the exact problems reported for bad files against
// golden files in testdata/problems (run with -update to rewrite them).
func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
	}{
		{"unknown_key", minimal + "    timout: 1s\n", nil},
		{"bad_duration", minimal + "    timeout: fast\n", nil},
		{"missing_env", minimal + "    auth: {type: bearer, secret: \"${CRM_TOKEN}\"}\n", nil},
		{"many_at_once", `
listen: nowhere
dependencies:
  crm:
    kind: sap
    timeout: 10 seconds
    breaker: {failure_rate: 2}
    allow: ["*.ok.example", "10.0.0.0/33"]
  dialogflow:
    bulkhead: {max_concurrent: -1}
dialogflow:
  agents:
    support: {environment: projects/p/locations/l/agents/a/environments/-}
    sales: {environment: projects/p/locations/l/agents/a/sessions/x}
cache: {fresh_ttl: 1h, stale_ttl: 1m}
unknown_top: 1
`, nil},
		{"bad_int", minimal + "    bulkhead: {max_concurrent: lots}\n", nil},
		{"bulkhead_adaptive", minimal + "    bulkhead: {mode: adaptive, max_concurrent: 8, min_concurrent: 10, initial_concurrent: 40, queue: 0.5}\n  identity:\n    bulkhead: {mode: elastic}\n  blob:\n    bulkhead: {min_concurrent: 2, queue: 2}\n", nil},
		{"redis_cache_without_key", minimal + "cache: {redis: {addr: \"127.0.0.1:6379\"}}\n", nil},
		{"slow_client_limits", minimal + "http: {body_timeout: 0s, max_connections: -1}\n", nil},
		{"not_yaml", "listen: [unclosed", nil},
		{"identity_secondary", minimal + "  identity:\n    endpoints: {primary: https://idp.example.com, secondary: https://idp-dr.example.com}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded, want problems")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			got := err.Error() + "\n"
			golden := filepath.Join("testdata", "problems", tt.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run go test -update): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("problems differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestUnknownKeyNamesPath(t *testing.T) {
	_, err := Parse([]byte(minimal+"    timout: 1s\n"), env(nil))
	var p *Problem
	if !errors.As(err, &p) || p.Path != "dependencies.crm.timout" {
		t.Fatalf("Parse = %v, want a Problem at dependencies.crm.timout", err)
	}
}

func TestCheckEnvironment(t *testing.T) {
	good := "projects/p/locations/us-central1/agents/a/environments/prod"
	if err := CheckEnvironment(good); err != nil {
		t.Errorf("CheckEnvironment(%q) = %v, want nil", good, err)
	}
	for _, bad := range []string{"", "projects/p/locations/l/agents/a", "projects/p/locations/l/agents/a/environments/-",
		"projects/p/locations/l/agents/a/environments/draft", "projects/p/locations/l/agents/a/sessions/s"} {
		if err := CheckEnvironment(bad); err == nil {
			t.Errorf("CheckEnvironment(%q) = nil, want Draft refused", bad)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"300ms": 300 * time.Millisecond, "7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1s", "1.5d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded, want error", in)
		}
	}
}

func TestBulkheadAdaptiveDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal+"    bulkhead: {mode: adaptive, max_concurrent: 12}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Dependencies.CRM.Bulkhead
	want := Bulkhead{Mode: "adaptive", MaxConcurrent: 12, MinConcurrent: 1, InitialConcurrent: 12}
	if got != want {
		t.Errorf("crm bulkhead = %+v, want %+v", got, want)
	}
	if b := c.Dependencies.Identity.Bulkhead; b != (Bulkhead{Mode: "fixed", MaxConcurrent: 64}) {
		t.Errorf("identity bulkhead = %+v, want fixed 64 with nothing adaptive", b)
	}
}
