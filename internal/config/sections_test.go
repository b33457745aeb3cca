package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSectionValidate covers the checks each section makes of itself,
// those that once lived only in the constructors serve runs (the
// recording store, the cache, the outbox dispatcher, the resilience
// policies, the Dialogflow client): each problem names its key.
func TestSectionValidate(t *testing.T) {
	const crmOnly = "dependencies:\n  crm:\n    endpoints: {primary: https://crm.example.com}\n"
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	const dfEnv = "projects/p/locations/l/agents/a/environments/prod"
	tests := []struct {
		name string
		yaml string // appended to minimal
		want []string
	}{
		{"good", "", nil},
		{"gcs without bucket", "", []string{"recordings.bucket"}},
		{"dir needs no bucket", "recordings: {store: dir}\n", nil},
		{"encryption key not 32 bytes", "cache: {encryption_key: c2hvcnQ=}\n", []string{"cache.encryption_key"}},
		{"encryption key good", "cache: {encryption_key: " + key + "}\n", nil},
		{"cache redis addr without port", "cache: {encryption_key: " + key + ", redis: {addr: redis.internal}}\n", []string{"cache.redis.addr"}},
		{"outbox redis host not allowlistable", "outbox: {backend: redis, redis: {addr: \"redis_1:6379\"}}\n", []string{"outbox.redis.addr"}},
		{"outbox backoff reversed", "outbox: {backoff: {initial: 10m, max: 1m}}\n", []string{"outbox.backoff.max"}},
		{"dialogflow alias", "dialogflow: {agents: {\"a b\": {environment: " + dfEnv + "}}}\n", []string{"dialogflow.agents.a b"}},
		{"dialogflow secondary is the primary", "dialogflow: {agents: {support: {environment: " + dfEnv + ", secondary: " + dfEnv + "}}}\n", []string{"dialogflow.agents.support.secondary"}},
		{"dialogflow auto_failover without secondary", "dialogflow: {agents: {support: {environment: " + dfEnv + ", auto_failover: true}}}\n", []string{"dialogflow.agents.support.auto_failover"}},
		{"dialogflow session_ttl negative", "dialogflow: {session_ttl: -1m}\n", []string{"dialogflow.session_ttl"}},
		{"duplicate admin token names", "admin: {tokens: [{name: ops, token: aaaaaaaaaaaaaaaa}, {name: ops, token: bbbbbbbbbbbbbbbb}]}\n", []string{"admin.tokens[1].name"}},
		{"bearer over http to a remote host", "recordings: {bucket: r}\ndependencies: {crm: {endpoints: {primary: \"http://crm.example.com\"}, auth: {type: bearer, secret: s3cr3t}}}\n", []string{"dependencies.crm.endpoints.primary"}},
		{"bearer over http to loopback", "recordings: {bucket: r}\ndependencies: {crm: {endpoints: {primary: \"http://127.0.0.1:8080\"}, auth: {type: bearer, secret: s3cr3t}}}\n", nil},
		{"http without credentials", "recordings: {bucket: r}\ndependencies: {crm: {endpoints: {primary: \"http://crm.example.com\"}}}\n", nil},
		{"identity issuer without audience", "identity: {issuer: https://login.example.com}\n", []string{"identity.audience"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := minimal
			switch {
			case tt.name == "gcs without bucket" || tt.name == "dir needs no bucket":
				base = crmOnly // no recordings section
			case strings.Contains(tt.yaml, "dependencies:"):
				base = "" // the case brings its own CRM
			}
			got := problemPaths(t, base+tt.yaml)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s", diff)
			}
		})
	}
}
