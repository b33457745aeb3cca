package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestStatusPagesValidate: every status page problem names its entry and
// key, and a good list gets its default interval.
func TestStatusPagesValidate(t *testing.T) {
	const zd = "{name: zendesk, url: https://status.zendesk.com/api/v2/summary.json, kind: statuspage, dependency: crm}"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"good", "status_pages:\n- " + zd + "\n- {name: gcp, url: https://status.cloud.google.com/incidents.json, kind: google_cloud, dependency: dialogflow, component: Dialogflow CX}\n- {name: idp, url: https://status.example.com/health, kind: json, json_path: status.indicator, dependency: identity, interval: 30s}\n", nil},
		{"missing everything", "status_pages:\n- {}\n", []string{"status_pages[0].name", "status_pages[0].url", "status_pages[0].kind", "status_pages[0].dependency"}},
		{"duplicate name", "status_pages:\n- " + zd + "\n- " + zd + "\n", []string{"status_pages[1].name"}},
		{"bad name", "status_pages:\n- {name: Zen Desk, url: https://s.example.com/x.json, kind: statuspage, dependency: crm}\n", []string{"status_pages[0].name"}},
		{"not http", "status_pages:\n- {name: a, url: ftp://s.example.com/x.json, kind: statuspage, dependency: crm}\n", []string{"status_pages[0].url"}},
		{"unknown dependency", "status_pages:\n- {name: a, url: https://s.example.com/x.json, kind: statuspage, dependency: billing}\n", []string{"status_pages[0].dependency"}},
		{"json without path", "status_pages:\n- {name: a, url: https://s.example.com/x.json, kind: json, dependency: crm}\n", []string{"status_pages[0].json_path"}},
		{"json bad path", "status_pages:\n- {name: a, url: https://s.example.com/x.json, kind: json, json_path: \"status..x\", dependency: crm}\n", []string{"status_pages[0].json_path"}},
		{"path on statuspage", "status_pages:\n- {name: a, url: https://s.example.com/x.json, kind: statuspage, json_path: a.b, dependency: crm}\n", []string{"status_pages[0].json_path"}},
		{"component on json", "status_pages:\n- {name: a, url: https://s.example.com/x.json, kind: json, json_path: a.b, component: x, dependency: crm}\n", []string{"status_pages[0].component"}},
		{"interval too short", "status_pages:\n- {name: a, url: https://s.example.com/x.json, kind: statuspage, dependency: crm, interval: 1s}\n", []string{"status_pages[0].interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problemPaths(t, minimal+tt.yaml)); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s", diff)
			}
		})
	}

	cfg, err := Parse([]byte(minimal+"status_pages:\n- "+zd+"\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.StatusPages[0].Interval.D(); got != time.Minute {
		t.Errorf("default interval = %s, want 1m", got)
	}
}

// TestHealthCheckValidate: active checks are validated under their
// dependency's key, refused where there is no HTTP endpoint, and get their
// defaults.
func TestHealthCheckValidate(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"good", "    health_check: {path: /healthz}\n", nil},
		{"relative path", "    health_check: {path: healthz}\n", []string{"dependencies.crm.health_check.path"}},
		{"interval too short", "    health_check: {path: /healthz, interval: 100ms}\n", []string{"dependencies.crm.health_check.interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problemPaths(t, minimal+tt.yaml)); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s", diff)
			}
		})
	}
	if got := problemPaths(t, minimal+"  redis:\n    health_check: {path: /healthz}\n"); !cmp.Equal(got, []string{"dependencies.redis.health_check.path"}) {
		t.Errorf("health_check on redis: problems %v, want dependencies.redis.health_check.path", got)
	}
	cfg, err := Parse([]byte(minimal+"    health_check: {path: /healthz}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.Dependencies.CRM.HealthCheck; h.Interval.D() != 10*time.Second || h.HealthyThreshold != 2 || h.UnhealthyThreshold != 3 || h.Timeout != cfg.Dependencies.CRM.Timeout {
		t.Errorf("defaults = %+v", h)
	}
	if cfg.Dependencies.Identity.HealthCheck.Enabled() {
		t.Error("identity health checks on without a path")
	}
}
