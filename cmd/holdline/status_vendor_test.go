package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/holdline/holdline/gateway/adminapi"
)

// TestPrintStatusVendor: a vendor status page is printed under the table,
// named by its dependency, with its incidents and the breaker beside it.
func TestPrintStatusVendor(t *testing.T) {
	raw := `{"version":"v","mode":"production","started_at":"2026-03-01T12:00:00Z","degraded":false,"dependencies":[
{"name":"crm","tier":"critical","breaker":"closed","breaker_mode":"auto","breaker_override":null,"active_endpoint":"primary","endpoint":"https://crm","endpoint_override":null,
"calls_1m":3,"failures_1m":0,"failure_rate_1m":0,"p50_ms":1,"p99_ms":2,"last_error":"","last_error_at":null,"last_success_at":null,"active_faults":0,"auth":"ok",
"health":{"primary":{"state":"healthy","since":null,"checked_at":null,"last_error":""},"secondary":{"state":"unhealthy","since":null,"checked_at":null,"last_error":"http 503"}},
"vendor_status":[{"name":"zendesk","kind":"statuspage","url":"https://status.zendesk.com/api/v2/summary.json","indicator":"major","description":"Partial System Outage",
"incidents":["Elevated API error rates"],"checked_at":"2026-03-01T12:00:00Z","vendor_updated_at":null,"last_error":""}]},
{"name":"dialogflow","tier":"critical","breaker":"open","breaker_mode":"auto","breaker_override":null,"active_endpoint":"primary","endpoint":"x","endpoint_override":null,
"calls_1m":0,"failures_1m":0,"failure_rate_1m":0,"p50_ms":0,"p99_ms":0,"last_error":"","last_error_at":null,"last_success_at":null,"active_faults":0,"auth":"ok",
"vendor_status":[{"name":"google","kind":"google_cloud","url":"u","indicator":"unknown","description":"","incidents":[],"checked_at":null,"vendor_updated_at":null,"last_error":"status page: http 503"}]}]}`
	var st adminapi.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printStatus(&out, &st)
	for _, want := range []string{
		"vendor status pages (advisory: they never trip a breaker):",
		"  crm (zendesk): MAJOR, Partial System Outage (checked ",
		"; breaker closed\n    - Elevated API error rates\n",
		"  dialogflow (google): UNKNOWN [unreadable: status page: http 503]; breaker open\n",
		"endpoint health (active checks):\n  crm: primary healthy secondary unhealthy (http 503)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printStatus output lacks %q:\n%s", want, out.String())
		}
	}

	st.Dependencies[0].VendorStatus, st.Dependencies[1].VendorStatus = nil, nil
	out.Reset()
	printStatus(&out, &st)
	if strings.Contains(out.String(), "vendor status") {
		t.Errorf("printStatus without pages mentions them:\n%s", out.String())
	}
}
