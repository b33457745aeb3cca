package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/holdline/holdline/gateway/adminapi"
)

// cli runs a holdline command against the dev sidecar d with its token.
func (d *devSidecar) cli(t *testing.T, args ...string) (stdout string, code int) {
	t.Helper()
	var out, errb syncBuffer
	getenv := func(k string) string {
		switch k {
		case "HOLDLINE_ADMIN_TOKEN":
			return d.token
		case "HOLDLINE_ADMIN":
			return d.admin
		}
		return ""
	}
	err := run(t.Context(), append([]string{"holdline"}, args...), getenv, &out, &errb)
	code = exitCode(err, &errb)
	return out.String() + errb.String(), code
}

func TestStatusExitCodes(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	waitIdentityKeys(t, d)
	out, code := d.cli(t, "status")
	if code != 0 || !strings.Contains(out, "HEALTHY") || !strings.Contains(out, "crm") {
		t.Fatalf("status on a healthy sidecar = %d:\n%s", code, out)
	}
	out, code = d.cli(t, "breaker", "open", "crm", "--reason", "CRM vendor incident 4521")
	if code != 0 || !strings.Contains(out, "crm: breaker open") {
		t.Fatalf("breaker open = %d: %s", code, out)
	}
	out, code = d.cli(t, "status")
	if code != 1 || !strings.Contains(out, "DEGRADED") || !strings.Contains(out, "forced open by dev") {
		t.Fatalf("status with a forced-open breaker = %d, want 1:\n%s", code, out)
	}
	out, code = d.cli(t, "status", "--json")
	var st adminapi.Status
	if code != 1 || json.Unmarshal([]byte(strings.TrimSpace(out)), &st) != nil || st.Dependencies[0].BreakerMode != adminapi.DependencyStatusBreakerModeOpen {
		t.Fatalf("status --json = %d: %s", code, out)
	}
	if _, code = d.cli(t, "breaker", "auto", "crm", "--reason", "vendor recovered"); code != 0 {
		t.Fatalf("breaker auto exit %d", code)
	}
	if out, code = d.cli(t, "status"); code != 0 {
		t.Fatalf("status after auto = %d:\n%s", code, out)
	}
	if out, code = d.cli(t, "status", "--admin", "http://127.0.0.1:1"); code != 2 {
		t.Fatalf("status against nothing = %d, want 2: %s", code, out)
	}
}

// waitIdentityKeys waits until /v1/status says the identity key set was
// fetched: start-up does not wait for the provider, and the sidecar reports
// degraded until the first fetch lands.
func waitIdentityKeys(t *testing.T, d *devSidecar) {
	t.Helper()
	waitUntil(t, "the first identity key fetch", func() (bool, string) {
		resp, err := httpClient().Get(d.admin + "/v1/status")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var st adminapi.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return false, err.Error()
		}
		if st.Identity == nil {
			return false, "no identity section"
		}
		return st.Identity.KeySource == adminapi.Fetched, fmt.Sprintf("%+v", *st.Identity)
	})
}

func TestBreakerAndFailoverNeedReasonAndToken(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	if out, code := d.cli(t, "breaker", "open", "crm"); code != 1 || !strings.Contains(out, "--reason") {
		t.Errorf("breaker without --reason = %d: %s", code, out)
	}
	if out, code := d.cli(t, "breaker", "open", "nosuch", "--reason", "x"); code != 1 || !strings.Contains(out, "400") && !strings.Contains(out, "404") {
		t.Errorf("breaker on an unknown dependency = %d: %s", code, out)
	}
	out, code := d.cli(t, "failover", "crm", "--to", "secondary", "--reason", "primary region down")
	if code != 0 || !strings.Contains(out, "new calls go to secondary") {
		t.Fatalf("failover = %d: %s", code, out)
	}
	// The dev sidecar's Dialogflow alias has a secondary environment.
	if out, code := d.cli(t, "failover", "dialogflow", "--to", "secondary", "--reason", "us-central1 incident"); code != 0 ||
		!strings.Contains(out, "dialogflow: new sessions go to secondary; running sessions stay in their region") {
		t.Errorf("failover dialogflow = %d: %s", code, out)
	}
	if out, code := d.cli(t, "status"); !strings.Contains(out, "new sessions go to secondary (switched by dev at ") {
		t.Errorf("status after failover dialogflow = %d, want the alias's region and who switched it:\n%s", code, out)
	}
	// It has no secondary Redis.
	if out, code := d.cli(t, "failover", "redis", "--to", "secondary", "--reason", "x"); code != 1 || !strings.Contains(out, "409") {
		t.Errorf("failover without a secondary = %d: %s", code, out)
	}
	// Identity calls do not use endpoints: its failover is refused, saying why.
	if out, code := d.cli(t, "failover", "identity", "--to", "secondary", "--reason", "x"); code != 1 || !strings.Contains(out, "identity has no failover") {
		t.Errorf("failover identity = %d: %s, want refused with the reason", code, out)
	}
	var noToken, errb syncBuffer
	err := run(t.Context(), []string{"holdline", "breaker", "open", "crm", "--reason", "x", "--admin", d.admin}, func(string) string { return "" }, &noToken, &errb)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("breaker without a token = %v, want a 401", err)
	}
	// Both actions are in the audit log with who and why.
	c, err := newAdminClient(env{getenv: func(k string) string {
		return map[string]string{"HOLDLINE_ADMIN": d.admin, "HOLDLINE_ADMIN_TOKEN": d.token}[k]
	}}, "")
	if err != nil {
		t.Fatal(err)
	}
	audit, err := c.api.GetAuditWithResponse(t.Context(), &adminapi.GetAuditParams{})
	if err != nil || answered(audit.HTTPResponse, audit.Body) != nil || audit.JSON200 == nil {
		t.Fatalf("GET /v1/admin/audit = %v, %v", audit, err)
	}
	found, foundDF := false, false
	for _, e := range audit.JSON200.Entries {
		if e.Action == "endpoint.set" && e.Target == "crm" && deref(e.Reason) == "primary region down" && e.Actor == "dev" {
			found = true
		}
		if e.Action == "endpoint.set" && e.Target == "dialogflow" && deref(e.Reason) == "us-central1 incident" && e.Actor == "dev" {
			foundDF = true
		}
	}
	if !found || !foundDF {
		t.Errorf("audit log lacks a failover (crm %v, dialogflow %v): %+v", found, foundDF, audit.JSON200.Entries)
	}
}
