package gateway

import (
	"regexp"
	"testing"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
)

// TestSpecStatesServerRules sends requests that break a rule the flows
// enforce and checks that the spec states it: the validator refuses them
// with a 400 naming the field before any handler runs (these planes have
// no outbox or drills, so a request that passes validation answers 503 or
// 404 from its handler instead).
func TestSpecStatesServerRules(t *testing.T) {
	p := newPlanes(t, nil)
	auth := map[string]string{"Authorization": "Bearer " + testToken}
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"replay names nothing", "POST", "/v1/admin/outbox/replay", `{}`, 400, "state"},
		{"replay only a reason", "POST", "/v1/admin/outbox/replay", `{"reason":"x"}`, 400, "state"},
		{"replay empty ids", "POST", "/v1/admin/outbox/replay", `{"ids":[]}`, 400, "ids"},
		{"replay bad since", "POST", "/v1/admin/outbox/replay", `{"state":"dead","since":"yesterday"}`, 400, "since"},
		{"replay by state", "POST", "/v1/admin/outbox/replay", `{"state":"dead","since":"2h"}`, 503, ""},
		{"replay ids and state", "POST", "/v1/admin/outbox/replay", `{"ids":["a1"],"state":"dead"}`, 400, "ids"},
		{"jobs since month 13", "GET", "/v1/admin/outbox?since=2026-13-02T15:04:05Z", ``, 400, "since"},
		{"jobs since offset 35h", "GET", "/v1/admin/outbox?since=2026-01-02T15:04:05-35:00", ``, 400, "since"},
		{"job id empty", "POST", "/v1/admin/outbox//replay", `{}`, 400, "id"},
		{"purge bad older_than", "POST", "/v1/admin/outbox/purge", `{"state":"done","older_than":"a week"}`, 400, "older_than"},
		{"purge negative", "POST", "/v1/admin/outbox/purge", `{"state":"done","older_than":"-1h"}`, 400, "older_than"},
		{"purge 7d", "POST", "/v1/admin/outbox/purge", `{"state":"done","older_than":"7d"}`, 503, ""},
		{"fault bad duration", "POST", "/v1/admin/faults", `{"dependency":"crm","latency":"1s","duration":"5 minutes"}`, 400, "duration"},
		{"fault negative latency", "POST", "/v1/admin/faults", `{"dependency":"crm","latency":"-1s","duration":"60s"}`, 400, "latency"},
		{"fault valid", "POST", "/v1/admin/faults", `{"dependency":"crm","latency":"1.5s","duration":"1h30m"}`, 404, ""},
		{"audit bad since", "GET", "/v1/admin/audit?since=yesterday", ``, 400, "since"},
		{"jobs since a time", "GET", "/v1/admin/outbox?since=2026-01-02T15:04:05Z", ``, 503, ""},
		{"jobs since offset time", "GET", "/v1/admin/outbox?since=2026-01-02T15:04:05.5%2B02:00", ``, 503, ""},
		{"jobs since 7d", "GET", "/v1/admin/outbox?since=7d", ``, 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := ""
			if tt.body != "" {
				ct = "application/json"
			}
			resp, body := do(t, tt.method, p.admin.URL+tt.path, ct, tt.body, auth)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s %s = %d %s, want %d problem+json", tt.method, tt.path, tt.body, resp.StatusCode, body, tt.status)
			}
			if got, _ := decode(t, body)["field"].(string); got != tt.field {
				t.Errorf("problem field = %q, want %q (body %s)", got, tt.field, body)
			}
		})
	}
}

// TestSpecDurationsMatchConfig checks that the spec's Duration and Since
// patterns accept what config.ParseDuration and config.ParseSince accept,
// and refuse what they refuse (the spec is stricter only where noted).
func TestSpecDurationsMatchConfig(t *testing.T) {
	spec, err := adminapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	duration := regexp.MustCompile(spec.Components.Schemas["Duration"].Value.Pattern)
	since := regexp.MustCompile(spec.Components.Schemas["Since"].Value.Pattern)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range []string{
		"0", "300ms", "15s", "2h", "1h30m", "1.5h", ".5s", "1.s", "90us", "90µs", "10ns", "7d", "0d", "365d",
		"", "-1h", "-7d", "7 d", "1w", "d", "1.5d", "2h-1m", "abc", "h", "1", "1hh",
	} {
		_, perr := config.ParseDuration(s)
		if got, want := duration.MatchString(s), perr == nil && s != ""; got != want {
			t.Errorf("Duration pattern on %q = %v; config.ParseDuration says %v (%v)", s, got, want, perr)
		}
	}
	for _, s := range []string{
		"2h", "7d", "0", "2026-01-02T15:04:05Z", "2026-01-02T15:04:05.123Z", "2026-01-02T15:04:05+02:00",
		"yesterday", "2026-01-02", "2026-01-02 15:04:05Z", "-2h", "2026-01-02T15:04Z",
	} {
		_, perr := config.ParseSince(s, now)
		if got, want := since.MatchString(s), perr == nil; got != want {
			t.Errorf("Since pattern on %q = %v; config.ParseSince says %v (%v)", s, got, want, perr)
		}
	}
}
