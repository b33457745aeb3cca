package sidecar

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/sim"
)

// TestStatusMatchesSpec reads /v1/status from a live dev sidecar with
// identity on, a drill fault, a forced breaker, a failover and some
// traffic, and validates the answer against openapi/admin.yaml (whose
// status schemas forbid unknown fields), so a field the sidecar sends
// that the spec does not describe fails here.
func TestStatusMatchesSpec(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	idp := sim.NewIdP(sim.IdPOptions{Issuer: "http://" + srv.Listener.Addr().String()})
	srv.Config.Handler = idp.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	ts, _ := startWithIdP(t, idp, t.TempDir())

	ts.fault(t, `{"dependency":"crm","latency":"1ms","error_rate":0.5,"status":503,"endpoint":"secondary","duration":"60s","reason":"spec test"}`)
	for _, c := range []struct{ url, body string }{
		{"/v1/admin/dependencies/blob/breaker", `{"mode":"open","reason":"spec test"}`},
		{"/v1/admin/dependencies/crm/endpoint", `{"active":"secondary","reason":"spec test"}`},
		{"/v1/admin/dependencies/dialogflow/endpoint", `{"active":"secondary","reason":"spec test"}`},
	} {
		if code := put(t, ts.admin+c.url, c.body); code != http.StatusOK {
			t.Fatalf("PUT %s = %d, want 200", c.url, code)
		}
	}
	ts.pop(t, "+14155550123")

	resp, body := getRaw(t, ts.admin+"/v1/status")
	validateStatus(t, resp, body)

	var st adminapi.Status
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("decode /v1/status into adminapi.Status: %v\n%s", err, body)
	}
	if !st.Degraded || st.Identity == nil || st.Outbox == nil || st.Spool == nil || st.Dialogflow == nil || st.Crm == nil || !st.Drills.Enabled || len(st.Drills.Faults) != 1 {
		t.Fatalf("status = %s\nwant degraded with identity, outbox, spool, dialogflow, crm and one drill fault", body)
	}
	forced := map[adminapi.DependencyStatusName]bool{}
	for _, d := range st.Dependencies {
		forced[d.Name] = d.BreakerOverride != nil || d.EndpointOverride != nil
	}
	if !forced["blob"] || !forced["crm"] || !forced["dialogflow"] {
		t.Errorf("overrides by dependency = %v, want blob, crm and dialogflow overridden", forced)
	}
	if a := st.Dialogflow.Agents[0]; a.ActiveRegion != adminapi.DialogflowAgentActiveRegionSecondary ||
		a.LastSwitch == nil || a.LastSwitch.Reason != "spec test" || a.LastSwitch.By == "auto" {
		t.Errorf("dialogflow agent after the failover: active_region %s, last_switch %+v; want secondary, by the operator", a.ActiveRegion, a.LastSwitch)
	}
}

// validateStatus checks a GET /v1/status answer against the admin spec.
func validateStatus(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	spec, err := adminapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	spec.Servers = nil // match any host
	rt, err := legacy.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	req := resp.Request
	route, params, err := rt.FindRoute(req)
	if err != nil {
		t.Fatalf("FindRoute(%s): %v", req.URL, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(t.Context(), in); err != nil {
		t.Fatalf("/v1/status does not match openapi/admin.yaml: %v\n%s", err, body)
	}
}

func getRaw(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, b)
	}
	return resp, b
}

func put(t *testing.T, url, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
