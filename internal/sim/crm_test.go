package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/internal/sim"
)

func start(t *testing.T, opts sim.CRMOptions) (*sim.CRM, *httptest.Server) {
	t.Helper()
	s := sim.NewCRM(opts)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

// call sends a request and returns the status, a header and the body.
func call(t *testing.T, srv *httptest.Server, method, path, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestCRMDevRoutes(t *testing.T) {
	t.Parallel()
	_, srv := start(t, sim.CRMOptions{})
	_, _, body := call(t, srv, "GET", "/dev/crm/contacts", "")
	var contacts struct{ Contacts []sim.CRMContact }
	if err := json.Unmarshal([]byte(body), &contacts); err != nil {
		t.Fatal(err)
	}
	want := []sim.CRMContact{
		{ID: "101", Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+14155550100"},
		{ID: "102", Name: "Grace Hopper", Email: "grace@example.com", Phone: "+14155550101", Mobile: "+14155550199"},
		{ID: "103", Name: "Alan Turing", Email: "alan@example.com", Phone: "+442079460000"},
	}
	if diff := cmp.Diff(want, contacts.Contacts); diff != "" {
		t.Errorf("GET /dev/crm/contacts mismatch (-want +got):\n%s", diff)
	}

	call(t, srv, "POST", "/records", `{"interaction_id":"i1","contact_id":"101","subject":"s"}`, "Idempotency-Key", "k1")
	call(t, srv, "POST", "/records/1004/comments", `{"body":"hi","author":"a"}`, "Idempotency-Key", "k2")
	_, _, body = call(t, srv, "GET", "/dev/crm/records", "")
	var recs struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &recs); err != nil {
		t.Fatal(err)
	}
	last := recs.Records[len(recs.Records)-1]
	if last["record_id"] != "1004" || last["interaction_id"] != "i1" || last["contact_id"] != "101" {
		t.Errorf("last record = %v, want record_id 1004, interaction i1, contact 101", last)
	}
	if cs, _ := last["comments"].([]any); len(cs) != 1 || cs[0].(map[string]any)["body"] != "hi" {
		t.Errorf("last record comments = %v, want one with body hi", last["comments"])
	}
	if as, ok := last["attachments"].([]any); !ok || len(as) != 0 {
		t.Errorf("last record attachments = %v, want []", last["attachments"])
	}

	_, _, body = call(t, srv, "GET", "/dev/crm/stats", "")
	var stats struct {
		Hits     map[string]int64
		Records  int
		Contacts int
	}
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	wantHits := map[string]int64{"generic.create_record": 1, "generic.comment": 1}
	if diff := cmp.Diff(wantHits, stats.Hits); diff != "" || stats.Records != 4 || stats.Contacts != 3 {
		t.Errorf("stats = %+v, want 4 records, 3 contacts, hits diff:\n%s", stats, diff)
	}

	code, _, _ := call(t, srv, "POST", "/dev/crm/contacts", `{"name":"Linus","phone":"+14155550123"}`)
	_, _, body = call(t, srv, "GET", "/contacts?phone=%2B14155550123", "")
	if code != http.StatusCreated || !strings.Contains(body, `"id":"104"`) {
		t.Errorf("added contact: POST status %d, lookup %s; want 201 and id 104", code, body)
	}
}

func TestCRMModeRoute(t *testing.T) {
	t.Parallel()
	s, srv := start(t, sim.CRMOptions{})
	tests := []struct {
		name, body string
		code       int
	}{
		{"unknown mode", `{"mode":"explode"}`, 400},
		{"bad duration", `{"mode":"hang","hang_max":"soon"}`, 400},
		{"bad scope and rate", `{"mode":"flap","scope":"some","flap_rate":2}`, 400},
		{"flap", `{"mode":"flap","seed":7,"latency":"5ms","scope":"write","retry_after":"2s"}`, 200},
	}
	for _, tt := range tests {
		if code, _, body := call(t, srv, "POST", "/dev/crm/mode", tt.body); code != tt.code {
			t.Errorf("%s: POST /dev/crm/mode %s = %d %s, want %d", tt.name, tt.body, code, body, tt.code)
		}
	}
	want := sim.CRMMode{Kind: sim.ModeFlap, Scope: sim.ScopeWrite, Latency: 5 * time.Millisecond,
		HangMax: 10 * time.Second, RetryAfter: 2 * time.Second, FlapRate: 0.5, Seed: 7}
	if diff := cmp.Diff(want, s.Mode()); diff != "" {
		t.Errorf("Mode() mismatch (-want +got):\n%s", diff)
	}
	_, _, body := call(t, srv, "GET", "/dev/crm/mode", "")
	var got sim.CRMMode
	if err := json.Unmarshal([]byte(body), &got); err != nil || !cmp.Equal(got, want) {
		t.Errorf("GET /dev/crm/mode = %s (%v), want %+v", body, err, want)
	}
}

func TestCRMGenericDuplicatesWithoutKey(t *testing.T) {
	t.Parallel()
	s, srv := start(t, sim.CRMOptions{Empty: true})
	for range 2 {
		call(t, srv, "POST", "/records", `{"interaction_id":"i1","subject":"no key"}`)
	}
	for range 2 {
		call(t, srv, "POST", "/records", `{"interaction_id":"i2","subject":"key"}`, "Idempotency-Key", "k")
	}
	count := map[string]int{}
	for _, r := range s.Records() {
		count[r.InteractionID]++
	}
	if diff := cmp.Diff(map[string]int{"i1": 2, "i2": 1}, count); diff != "" {
		t.Errorf("records per interaction mismatch (-want +got):\n%s", diff)
	}
}

func TestCRMReplayAnswers(t *testing.T) {
	t.Parallel()
	_, srv := start(t, sim.CRMOptions{})
	type answer struct {
		Code   int
		Header string
		Body   string
	}
	do := func(method, path, body, header string, hdr ...string) answer {
		code, h, b := call(t, srv, method, path, body, hdr...)
		return answer{code, h.Get(header), strings.TrimSpace(b)}
	}
	tests := []struct {
		name       string
		first, rep func() answer
		wantFirst  answer
		wantReplay answer
	}{
		{
			name: "generic create",
			first: func() answer {
				return do("POST", "/records", `{"subject":"s"}`, "Idempotent-Replayed", "Idempotency-Key", "g")
			},
			wantFirst:  answer{201, "", `{"id":"1004"}`},
			wantReplay: answer{200, "true", `{"id":"1004"}`},
		},
		{
			name: "salesforce upsert",
			first: func() answer {
				return do("PATCH", "/services/data/v60.0/sobjects/Case/Holdline_Key__c/sf", `{"Subject":"s"}`, "")
			},
			wantFirst:  answer{201, "", `{"created":true,"errors":[],"id":"1005","success":true}`},
			wantReplay: answer{200, "", `{"created":false,"errors":[],"id":"1005","success":true}`},
		},
	}
	for _, tt := range tests {
		if got := tt.first(); got != tt.wantFirst {
			t.Errorf("%s: first = %+v, want %+v", tt.name, got, tt.wantFirst)
		}
		if got := tt.first(); got != tt.wantReplay {
			t.Errorf("%s: replay = %+v, want %+v", tt.name, got, tt.wantReplay)
		}
	}
	zd := func() answer {
		a := do("POST", "/api/v2/tickets.json", `{"ticket":{"subject":"s","comment":{"body":"b"}}}`, "X-Idempotency-Lookup", "Idempotency-Key", "z")
		a.Body = ""
		return a
	}
	if got := []answer{zd(), zd()}; !cmp.Equal(got, []answer{{201, "miss", ""}, {201, "hit", ""}}) {
		t.Errorf("zendesk create, replay = %+v; want 201 miss, 201 hit", got)
	}
}

func TestCRMSalesforceRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	_, srv := start(t, sim.CRMOptions{})
	for _, body := range []string{`{"Subject":"s","Bogus":1}`, `{"Subject":"s","Holdline_Key__c":"k"}`} {
		code, _, b := call(t, srv, "PATCH", "/services/data/v60.0/sobjects/Case/Holdline_Key__c/k", body)
		if code != 400 || !strings.Contains(b, "INVALID_FIELD") {
			t.Errorf("upsert %s = %d %s, want 400 INVALID_FIELD", body, code, b)
		}
	}
}

func TestCRMFlapIsReproducible(t *testing.T) {
	t.Parallel()
	run := func() []int {
		_, srv := start(t, sim.CRMOptions{Mode: sim.CRMMode{Kind: sim.ModeFlap, Seed: 42}})
		var codes []int
		for range 40 {
			code, _, _ := call(t, srv, "GET", "/contacts?phone=%2B14155550100", "")
			codes = append(codes, code)
		}
		return codes
	}
	a, b := run(), run()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two runs with one seed differ:\n%s", diff)
	}
	fails := 0
	for _, c := range a {
		if c == 503 {
			fails++
		}
	}
	if fails < 8 || fails > 32 {
		t.Errorf("flap failed %d of 40, want about half", fails)
	}
}

func TestCRMFaults(t *testing.T) {
	t.Parallel()
	t.Run("scope write fails writes only", func(t *testing.T) {
		t.Parallel()
		_, srv := start(t, sim.CRMOptions{Mode: sim.CRMMode{Kind: sim.Mode503, Scope: sim.ScopeWrite, RetryAfter: 1500 * time.Millisecond}})
		if code, _, _ := call(t, srv, "GET", "/contacts?phone=%2B14155550100", ""); code != 200 {
			t.Errorf("read = %d, want 200", code)
		}
		code, h, _ := call(t, srv, "POST", "/records", `{"subject":"s"}`)
		if code != 503 || h.Get("Retry-After") != "2" {
			t.Errorf("write = %d Retry-After %q, want 503 and 2", code, h.Get("Retry-After"))
		}
	})
	t.Run("hang answers 504 after hang_max", func(t *testing.T) {
		t.Parallel()
		_, srv := start(t, sim.CRMOptions{Mode: sim.CRMMode{Kind: sim.ModeHang, HangMax: 50 * time.Millisecond}})
		start := time.Now()
		if code, _, _ := call(t, srv, "GET", "/api/v2/users/search.json?query=phone:1", ""); code != 504 || time.Since(start) < 50*time.Millisecond {
			t.Errorf("hang = %d after %v, want 504 after 50ms", code, time.Since(start))
		}
	})
	t.Run("latency delays", func(t *testing.T) {
		t.Parallel()
		_, srv := start(t, sim.CRMOptions{Mode: sim.CRMMode{Latency: 60 * time.Millisecond}})
		start := time.Now()
		if code, _, _ := call(t, srv, "GET", "/contacts?phone=1", ""); code != 200 || time.Since(start) < 60*time.Millisecond {
			t.Errorf("latency = %d after %v, want 200 after 60ms", code, time.Since(start))
		}
	})
	t.Run("reset drops the connection", func(t *testing.T) {
		t.Parallel()
		_, srv := start(t, sim.CRMOptions{Mode: sim.CRMMode{Kind: sim.ModeReset}})
		resp, err := srv.Client().Get(srv.URL + "/contacts?phone=1")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET in reset mode = %d, want a transport error", resp.StatusCode)
		}
	})
	t.Run("dev routes are never faulted", func(t *testing.T) {
		t.Parallel()
		_, srv := start(t, sim.CRMOptions{Mode: sim.CRMMode{Kind: sim.ModeReset}})
		if code, _, _ := call(t, srv, "GET", "/dev/crm/stats", ""); code != 200 {
			t.Errorf("GET /dev/crm/stats in reset mode = %d, want 200", code)
		}
	})
}

func TestCRMToken(t *testing.T) {
	t.Parallel()
	_, srv := start(t, sim.CRMOptions{Token: "t0k"})
	tests := []struct {
		hdr  []string
		want int
	}{
		{nil, 401},
		{[]string{"Authorization", "Bearer nope"}, 401},
		{[]string{"Authorization", "Bearer t0k"}, 200},
		{[]string{"X-Api-Key", "t0k"}, 200},
		{[]string{"Authorization", "Basic dTp0MGs="}, 200}, // u:t0k
	}
	for _, tt := range tests {
		if code, _, _ := call(t, srv, "GET", "/contacts?phone=1", "", tt.hdr...); code != tt.want {
			t.Errorf("GET with %v = %d, want %d", tt.hdr, code, tt.want)
		}
	}
	if code, _, _ := call(t, srv, "GET", "/dev/crm/records", ""); code != 200 {
		t.Errorf("GET /dev/crm/records without token = %d, want 200", code)
	}
}

func TestCRMDevHandlerServesOnlyDevRoutes(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(sim.NewCRM(sim.CRMOptions{}).DevHandler())
	t.Cleanup(srv.Close)
	if code, _, _ := call(t, srv, "GET", "/dev/crm/records", ""); code != 200 {
		t.Errorf("GET /dev/crm/records = %d, want 200", code)
	}
	if code, _, _ := call(t, srv, "GET", "/contacts?phone=1", ""); code != 404 {
		t.Errorf("GET /contacts on DevHandler = %d, want 404", code)
	}
}
