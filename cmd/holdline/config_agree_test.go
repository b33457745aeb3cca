package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/holdline/holdline/internal/sidecar"
)

// TestConfigValidateAgreesWithServe feeds every example config and a list
// of invalid ones to `holdline config validate` and to serve, and checks
// they agree: both accept the good files, and both refuse each bad one
// naming the same key. Invalid files go through `holdline serve --config`
// itself, which must refuse them before it opens anything (its data dir is
// never created). Good files go through serve's path up to sidecar.New
// (serveConfig, then sidecar.Check, the first thing New runs): starting
// them would need the real Salesforce and GCS they name.
func TestConfigValidateAgreesWithServe(t *testing.T) {
	t.Parallel()
	getenv := func(k string) string {
		return map[string]string{"HOLDLINE_ONCALL_TOKEN": "0123456789abcdef01", "SALESFORCE_TOKEN": "x", "IDP_CLIENT_SECRET": "y"}[k]
	}
	const crm = "dependencies:\n  crm:\n    endpoints: {primary: https://crm.example.com}\n"
	const bucket = "recordings: {bucket: recordings}\n"
	const dfEnv = "projects/p/locations/l/agents/a/environments/prod"
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	tests := []struct {
		name string
		file string // a path, or the YAML itself
		key  string // the key both must name; "" for a good file
	}{
		{"examples/holdline.yaml", filepath.Join("..", "..", "examples", "holdline.yaml"), ""},
		{"deploy/kubernetes/pod.yaml", podConfig(t), ""},
		{"minimal", bucket + crm, ""},
		{"gcs without bucket", crm, "recordings.bucket"},
		{"issuer without audience", bucket + crm + "identity: {issuer: https://login.example.com}\n", "identity.audience"},
		{"unknown key", bucket + crm + "    timout: 1s\n", "dependencies.crm.timout"},
		{"encryption key not 32 bytes", bucket + crm + "cache: {encryption_key: c2hvcnQ=}\n", "cache.encryption_key"},
		{"cache redis addr not host:port", bucket + crm + "cache: {encryption_key: " + key + ", redis: {addr: redis.internal}}\n", "cache.redis.addr"},
		{"outbox redis host not allowlistable", bucket + crm + "outbox: {backend: redis, redis: {addr: \"redis_1:6379\"}}\n", "outbox.redis.addr"},
		{"outbox backoff max below initial", bucket + crm + "outbox: {backoff: {initial: 10m, max: 1m}}\n", "outbox.backoff.max"},
		{"dialogflow alias not a path segment", bucket + crm + "dialogflow: {agents: {\"sup/port\": {environment: " + dfEnv + "}}}\n", "dialogflow.agents.sup/port"},
		{"dialogflow secondary same as environment", bucket + crm + "dialogflow: {agents: {support: {environment: " + dfEnv + ", secondary: " + dfEnv + "}}}\n", "dialogflow.agents.support.secondary"},
		{"identity secondary endpoint", bucket + crm + "  identity:\n    endpoints: {primary: https://idp.example.com, secondary: https://idp-dr.example.com}\n", "dependencies.identity.endpoints.secondary"},
		{"generic lookup_url without phone", bucket + crm + "    generic: {lookup_url: /contacts}\n", "dependencies.crm.generic.lookup_url"},
		{"generic unknown record field", bucket + crm + "    generic: {fields: {record.owner: owner_name}}\n", "dependencies.crm.generic.fields.record.owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := tt.file
			if strings.Contains(file, "\n") {
				file = filepath.Join(dir, "holdline.yaml")
				if err := os.WriteFile(file, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out, errb syncBuffer
			validateErr := run(t.Context(), []string{"holdline", "config", "validate", file}, getenv, &out, &errb)
			code := exitCode(validateErr, &errb)
			validated := out.String() + errb.String()

			if tt.key == "" {
				if code != 0 {
					t.Fatalf("config validate %s: exit %d, want 0:\n%s", tt.name, code, validated)
				}
				cfg, _, err := serveConfig(t.Context(), env{getenv: getenv, stdout: io.Discard, stderr: io.Discard}, serveFlags{configFile: file}, noFlags{})
				if err == nil {
					err = sidecar.Check(cfg)
				}
				if err != nil {
					t.Fatalf("config validate accepts %s; serve refuses it: %v", tt.name, err)
				}
				return
			}

			if code != 1 || !strings.Contains(validated, tt.key+":") {
				t.Errorf("config validate: exit %d, want 1 naming %s:\n%s", code, tt.key, validated)
			}
			dataDir := filepath.Join(dir, "data")
			serveErr := run(t.Context(), []string{"holdline", "serve", "--config", file,
				"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dataDir}, getenv, io.Discard, io.Discard)
			if serveErr == nil || !strings.Contains(serveErr.Error(), tt.key+":") {
				t.Errorf("serve = %v, want an error naming %s", serveErr, tt.key)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("serve refused %s after opening its data dir (stat: %v); it must check first", tt.name, err)
			}
		})
	}
}

// noFlags is a command line that sets no flag.
type noFlags struct{}

func (noFlags) Changed(string) bool { return false }

// podConfig writes the holdline.yaml of deploy/kubernetes/pod.yaml's
// ConfigMap to a file and returns its path.
func podConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("deploy/kubernetes/pod.yaml has no ConfigMap with holdline.yaml: %v", err)
		}
		if cfg, ok := doc.Data["holdline.yaml"]; ok && doc.Kind == "ConfigMap" {
			p := filepath.Join(t.TempDir(), "holdline.yaml")
			if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
}
