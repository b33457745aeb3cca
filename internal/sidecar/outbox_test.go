package sidecar

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// crmWithRules is the CRM simulator behind a switch that rejects every
// write with 422, as a CRM validation rule would until someone fixes it.
type crmWithRules struct {
	*sim.CRM
	reject atomic.Bool
}

func startOutboxSidecar(t *testing.T) (*testSidecar, *crmWithRules) {
	t.Helper()
	c := &crmWithRules{CRM: sim.NewCRM(sim.CRMOptions{Empty: true})}
	h := c.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.reject.Load() && r.Method == http.MethodPost {
			http.Error(w, `{"error":"validation rule"}`, http.StatusUnprocessableEntity)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ts := startDev(t, func(cfg *config.Config) {
		cfg.Dependencies.CRM.Kind = "generic"
		cfg.Dependencies.CRM.Endpoints.Primary = srv.URL
		cfg.Outbox.WriteBudget = config.Duration(3 * time.Second)
		cfg.Outbox.Backoff = config.Backoff{Initial: config.Duration(50 * time.Millisecond), Max: config.Duration(200 * time.Millisecond), MaxElapsed: config.Duration(time.Hour)}
		// The outbox's retries open the breaker while the CRM is down; once
		// it is back, the queued jobs wait for the breaker to half-open.
		// Dev's 5s open_for would only make that wait longer.
		cfg.Dependencies.CRM.Breaker.OpenFor = config.Duration(time.Second)
	})
	return ts, c
}

// call sends a request with the admin token unless auth is false.
func call(t *testing.T, method, url, body string, auth bool, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode, out
}

// waitJobs waits until GET /v1/interactions/{id} shows n jobs in state.
func (ts *testSidecar) waitJobs(t *testing.T, id string, n int, state string) map[string]any {
	t.Helper()
	var v map[string]any
	waitUntil(t, fmt.Sprintf("%d jobs %s for interaction %s", n, state, id), func() (bool, string) {
		var code int
		code, v = call(t, "GET", ts.data+"/v1/interactions/"+id, "", false)
		got := 0
		if jobs, ok := v["jobs"].([]any); ok {
			for _, j := range jobs {
				if j.(map[string]any)["state"] == state {
					got++
				}
			}
		}
		return code == 200 && got == n, fmt.Sprintf("GET /v1/interactions/%s = %d %v", id, code, v)
	})
	return v
}

func TestInteractionWritesOverHTTP(t *testing.T) {
	t.Parallel()
	ts, crm := startOutboxSidecar(t)
	rec := `{"subject":"Billing question","description":"invoice 42","channel":"voice"}`

	t.Run("healthy CRM answers 201 with the record id", func(t *testing.T) {
		code, w := call(t, "POST", ts.data+"/v1/interactions/call-1/record", rec, false)
		if code != 201 || w["status"] != "created" || w["record_id"] == nil || w["job_id"] == nil {
			t.Fatalf("POST record = %d %v, want 201 created with record_id and job_id", code, w)
		}
		code, again := call(t, "POST", ts.data+"/v1/interactions/call-1/record", rec, false)
		if code != 201 || again["record_id"] != w["record_id"] || again["job_id"] != w["job_id"] {
			t.Errorf("repeat = %d %v, want the first answer %v", code, again, w)
		}
		code, c := call(t, "POST", ts.data+"/v1/interactions/call-1/comments", `{"body":"callback tomorrow"}`, false, "Idempotency-Key", "c-1")
		if code != 201 || c["record_id"] != w["record_id"] || c["comment_id"] == nil {
			t.Errorf("POST comment = %d %v", code, c)
		}
		code, p := call(t, "POST", ts.data+"/v1/interactions/call-1/comments", `{"body":"something else"}`, false, "Idempotency-Key", "c-1")
		if code != 409 {
			t.Errorf("same key, other body = %d %v, want 409", code, p)
		}
		code, p = call(t, "POST", ts.data+"/v1/interactions/call-none/comments", `{"body":"x"}`, false)
		if code != 409 {
			t.Errorf("comment before any record = %d %v, want 409", code, p)
		}
		code, v := call(t, "GET", ts.data+"/v1/interactions/call-1", "", false)
		if code != 200 || v["record_id"] != w["record_id"] || len(v["jobs"].([]any)) != 2 {
			t.Errorf("GET interaction = %d %v", code, v)
		}
		if code, _ := call(t, "GET", ts.data+"/v1/interactions/call-unknown", "", false); code != 404 {
			t.Errorf("GET unknown interaction = %d, want 404", code)
		}
	})

	t.Run("CRM down answers 202, then the comment lands after its record", func(t *testing.T) {
		if err := crm.SetMode(sim.CRMMode{Kind: sim.Mode503, Scope: sim.ScopeWrite}); err != nil {
			t.Fatal(err)
		}
		code, w := call(t, "POST", ts.data+"/v1/interactions/call-2/record", rec, false)
		if code != 202 || w["status"] != "queued" || w["job_id"] == nil {
			t.Fatalf("POST record with the CRM down = %d %v, want 202 queued", code, w)
		}
		code, c := call(t, "POST", ts.data+"/v1/interactions/call-2/comments", `{"body":"after the record"}`, false)
		if code != 202 {
			t.Fatalf("POST comment with the CRM down = %d %v, want 202", code, c)
		}
		if err := crm.SetMode(sim.CRMMode{Kind: sim.ModeOK}); err != nil {
			t.Fatal(err)
		}
		v := ts.waitJobs(t, "call-2", 2, "done")
		r, ok := crm.Record(v["record_id"].(string))
		if !ok || len(r.Comments) != 1 || r.Comments[0].Body != "after the record" || r.InteractionID != "call-2" {
			t.Errorf("CRM record %v = %+v", v["record_id"], r)
		}
	})

	t.Run("a 4xx goes dead, holds later writes, and replays after the fix", func(t *testing.T) {
		crm.reject.Store(true)
		code, w := call(t, "POST", ts.data+"/v1/interactions/call-3/record", rec, false)
		if code != 202 {
			t.Fatalf("POST record with a 422 = %d %v, want 202", code, w)
		}
		ts.waitJobs(t, "call-3", 1, "dead")
		call(t, "POST", ts.data+"/v1/interactions/call-3/comments", `{"body":"held"}`, false)
		_, st := call(t, "GET", ts.admin+"/v1/status", "", false)
		ob := st["outbox"].(map[string]any)
		if ob["dead"] != 1.0 || ob["blocked"] != 1.0 || st["degraded"] != true {
			t.Errorf("status = outbox %v degraded %v, want 1 dead, 1 blocked, degraded", ob, st["degraded"])
		}
		if code, _ := call(t, "GET", ts.admin+"/v1/admin/outbox?state=dead", "", false); code != 401 {
			t.Errorf("GET /v1/admin/outbox without the token = %d, want 401", code)
		}
		code, list := call(t, "GET", ts.admin+"/v1/admin/outbox?state=dead", "", true)
		jobs, _ := list["jobs"].([]any)
		if code != 200 || len(jobs) != 1 {
			t.Fatalf("GET /v1/admin/outbox?state=dead = %d %v, want one job", code, list)
		}
		dead := jobs[0].(map[string]any)
		id := dead["id"].(string)
		if dead["payload"] == nil || dead["last_error"] == nil {
			t.Errorf("admin job = %v, want payload and last_error", dead)
		}
		code, dry := call(t, "POST", ts.admin+"/v1/admin/outbox/replay", `{"state":"dead","kind":"crm.create_record","dry_run":true}`, true)
		if code != 200 || dry["matched"] != 1.0 || dry["replayed"] != 0.0 {
			t.Errorf("dry run = %d %v, want 1 matched, none replayed", code, dry)
		}
		if code, _ := call(t, "POST", ts.admin+"/v1/admin/outbox/replay", `{}`, true); code != 400 {
			t.Errorf("replay without ids or state = %d, want 400", code)
		}
		crm.reject.Store(false)
		if code, j := call(t, "POST", ts.admin+"/v1/admin/outbox/"+id+"/replay", `{"reason":"validation rule fixed"}`, true); code != 200 || j["state"] != "pending" {
			t.Fatalf("replay = %d %v", code, j)
		}
		ts.waitJobs(t, "call-3", 2, "done")
		if code, _ := call(t, "POST", ts.admin+"/v1/admin/outbox/nope/replay", `{}`, true); code != 404 {
			t.Errorf("replay of an unknown job = %d, want 404", code)
		}
		code, audit := call(t, "GET", ts.admin+"/v1/admin/audit", "", true)
		if code != 200 || !strings.Contains(mustJSON(audit), `"outbox.replay"`) || !strings.Contains(mustJSON(audit), "validation rule fixed") {
			t.Errorf("audit = %d %v, want the replay with its reason", code, audit)
		}
		code, purged := call(t, "POST", ts.admin+"/v1/admin/outbox/purge", `{"state":"done","older_than":"0s","reason":"test"}`, true)
		if code != 200 || purged["purged"].(float64) < 6 {
			t.Errorf("purge = %d %v, want every done job", code, purged)
		}
		if code, _ := call(t, "GET", ts.admin+"/v1/admin/outbox/"+id, "", true); code != 404 {
			t.Errorf("GET purged job = %d, want 404", code)
		}
		_, st = call(t, "GET", ts.admin+"/v1/status", "", false)
		if ob := st["outbox"].(map[string]any); ob["pending"] != 0.0 || ob["dead"] != 0.0 || ob["oldest_pending_age_seconds"] != 0.0 {
			t.Errorf("status outbox after purge = %v", ob)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
