package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/sim"
)

// The documented rules the simulator enforces, each checked against what a
// client that breaks it would see.

func TestZendeskStoresMetadataUnderCustom(t *testing.T) {
	t.Parallel()
	_, srv := start(t, sim.CRMOptions{})
	for _, tt := range []struct{ meta, wantCustom string }{
		{`{"holdline_key":"k1"}`, `{"holdline_key":"k1"}`},
		// A client that adds the custom level itself gets it twice.
		{`{"custom":{"holdline_key":"k2"}}`, `{"custom":{"holdline_key":"k2"}}`},
	} {
		code, _, body := call(t, srv, "PUT", "/api/v2/tickets/1001.json",
			`{"ticket":{"comment":{"body":"b","public":false},"metadata":`+tt.meta+`}}`)
		var got struct {
			Audit struct {
				Metadata struct {
					Custom json.RawMessage `json:"custom"`
				} `json:"metadata"`
			} `json:"audit"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
			t.Fatalf("update = %d %s (%v)", code, body, err)
		}
		if string(got.Audit.Metadata.Custom) != tt.wantCustom {
			t.Errorf("ticket.metadata %s stored as audit metadata.custom %s, want %s", tt.meta, got.Audit.Metadata.Custom, tt.wantCustom)
		}
	}
}

func TestZendeskIgnoresIdempotencyKeyOnUpdates(t *testing.T) {
	t.Parallel()
	s, srv := start(t, sim.CRMOptions{})
	for range 2 {
		if code, _, body := call(t, srv, "PUT", "/api/v2/tickets/1001.json",
			`{"ticket":{"comment":{"body":"same","public":false}}}`, "Idempotency-Key", "k"); code != 200 {
			t.Fatalf("update = %d %s", code, body)
		}
	}
	if r, _ := s.Record("1001"); len(r.Comments) != 2 {
		t.Errorf("two updates with one Idempotency-Key left %d comments, want 2 (Zendesk documents the key for creation only)", len(r.Comments))
	}
}

func TestZendeskSearchesPhonesAsDigits(t *testing.T) {
	t.Parallel()
	_, srv := start(t, sim.CRMOptions{})
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"phone:14155550100", 1},
		{"phone:*4155550100", 1},  // leading * matches other formats
		{"phone:14155550199", 1},  // a mobile
		{"phone:+14155550100", 0}, // the guide says no +
		{"phone:1 415 555 0100", 0},
		{"phone:", 0},
	} {
		_, _, body := call(t, srv, "GET", "/api/v2/users/search.json?query="+urlQuery(tt.query), "")
		var got struct{ Users []any }
		if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Users) != tt.want {
			t.Errorf("search %q found %d users (%v), want %d", tt.query, len(got.Users), err, tt.want)
		}
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer("+", "%2B", " ", "%20", ":", "%3A", "*", "%2A").Replace(s)
}

func TestZendeskRateLimitAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 10, 0, 45, 0, time.UTC)
	_, srv := start(t, sim.CRMOptions{ZendeskPerMinute: 2, Now: func() time.Time { return now }})
	var codes []int
	var retry string
	for range 3 {
		code, h, _ := call(t, srv, "GET", "/api/v2/users/search.json?query=phone%3A1", "")
		codes = append(codes, code)
		retry = h.Get("Retry-After")
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || retry != "15" {
		t.Errorf("3 requests with a limit of 2 a minute = %v, Retry-After %q; want 200 200 429, 15", codes, retry)
	}
}

func TestSalesforceCommentBodyLimitIsBytes(t *testing.T) {
	t.Parallel()
	_, srv := start(t, sim.CRMOptions{})
	for _, tt := range []struct {
		body string
		code int
	}{
		{strings.Repeat("a", 4000), 201},
		{strings.Repeat("é", 2000), 201}, // 4,000 bytes
		{strings.Repeat("é", 2001), 400}, // 2,001 characters, 4,002 bytes
	} {
		b, _ := json.Marshal(map[string]any{"ParentId": "1001", "CommentBody": tt.body})
		code, _, ans := call(t, srv, "POST", "/services/data/v60.0/sobjects/CaseComment", string(b))
		if code != tt.code || (code == 400 && !strings.Contains(ans, "STRING_TOO_LONG")) {
			t.Errorf("CommentBody of %d bytes = %d %s, want %d", len(tt.body), code, ans, tt.code)
		}
	}
}

func TestSalesforceRefusesOversizedJSONBlob(t *testing.T) {
	t.Parallel()
	s, srv := start(t, sim.CRMOptions{})
	// The declared length alone is refused, before the body is read.
	req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/services/data/v60.0/sobjects/ContentVersion",
		io.LimitReader(zeros{}, 50_000_001))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 50_000_001
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "REQUEST_ENTITY_TOO_LARGE") {
			t.Errorf("a 50,000,001-byte JSON insert = %d %s, want 413 REQUEST_ENTITY_TOO_LARGE", resp.StatusCode, b)
		}
	} else {
		t.Logf("transport error: %v", err)
	} // the server may close the connection before the client finished writing: refused too.
	if r, _ := s.Record("1001"); len(r.Attachments) != 0 {
		t.Errorf("ledger has %d attachments after a refused insert, want 0", len(r.Attachments))
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestSalesforceMultipartContentVersion(t *testing.T) {
	t.Parallel()
	s, srv := start(t, sim.CRMOptions{})
	post := func(parts ...[2]string) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, p := range parts {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", p[0])
			if strings.Contains(p[0], "entity_content") {
				h.Set("Content-Type", "application/json")
			} else {
				h.Set("Content-Type", "audio/wav")
			}
			w, _ := mw.CreatePart(h)
			_, _ = io.WriteString(w, p[1])
		}
		_ = mw.Close()
		code, _, body := call(t, srv, "POST", "/services/data/v60.0/sobjects/ContentVersion", buf.String(), "Content-Type", mw.FormDataContentType())
		return code, body
	}
	meta := `{"Title":"a.wav","PathOnClient":"a.wav","FirstPublishLocationId":"1001","Description":"holdline recording part 1 of 1"}`
	entity := `form-data; name="entity_content"`
	blob := `form-data; name="VersionData"; filename="a.wav"`
	if code, body := post([2]string{entity, meta}, [2]string{blob, "hello"}); code != 201 {
		t.Fatalf("multipart insert = %d %s, want 201", code, body)
	}
	if r, _ := s.Record("1001"); len(r.Attachments) != 1 || r.Attachments[0].Size != 5 || r.Attachments[0].Part != 1 {
		t.Errorf("ledger attachments = %+v, want one of 5 bytes, part 1", r.Attachments)
	}
	for name, parts := range map[string][][2]string{
		"binary part first":    {{blob, "hello"}, {entity, meta}},
		"no binary part":       {{entity, meta}},
		"binary part misnamed": {{entity, meta}, {`form-data; name="Body"; filename="a.wav"`, "hello"}},
	} {
		if code, body := post(parts...); code != 400 || !strings.Contains(body, "INVALID_MULTIPART_REQUEST") {
			t.Errorf("%s: insert = %d %s, want 400 INVALID_MULTIPART_REQUEST", name, code, body)
		}
	}
}

func TestSalesforcePagesQueries(t *testing.T) {
	t.Parallel()
	s, srv := start(t, sim.CRMOptions{Salesforce: sim.SalesforceOptions{QueryBatch: 2}})
	for range 5 {
		call(t, srv, "POST", "/services/data/v60.0/sobjects/CaseComment", `{"ParentId":"1001","CommentBody":"x"}`)
	}
	path := "/services/data/v60.0/query?q=" + urlQuery("SELECT Id FROM CaseComment WHERE ParentId = '1001'")
	var ids []string
	for range 4 {
		_, _, body := call(t, srv, "GET", path, "")
		var page struct {
			TotalSize      int
			Done           bool
			NextRecordsURL string `json:"nextRecordsUrl"`
			Records        []struct{ Id string }
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil || page.TotalSize != 5 || len(page.Records) > 2 {
			t.Fatalf("query batch = %s (%v), want at most 2 of 5 records", body, err)
		}
		for _, r := range page.Records {
			ids = append(ids, r.Id)
		}
		if page.Done {
			break
		}
		path = page.NextRecordsURL
	}
	if r, _ := s.Record("1001"); len(ids) != len(r.Comments) {
		t.Errorf("batches held %d records, want all %d", len(ids), len(r.Comments))
	}
}

func TestSalesforceSessionsAndDailyLimit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, srv := start(t, sim.CRMOptions{Now: clock, Salesforce: sim.SalesforceOptions{DailyLimit: 2, SessionTimeout: time.Hour}})
	q := "/services/data/v60.0/query?q=" + urlQuery("SELECT Id FROM Contact WHERE Phone = '+1'")
	get := func(token string) (int, http.Header, string) {
		return call(t, srv, "GET", q, "", "Authorization", "Bearer "+token)
	}
	if code, h, _ := get("t1"); code != 200 || h.Get("Sforce-Limit-Info") != "api-usage=1/2" {
		t.Errorf("first call = %d, Sforce-Limit-Info %q; want 200, api-usage=1/2", code, h.Get("Sforce-Limit-Info"))
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if code, _, body := get("t1"); code != 401 || !strings.Contains(body, "INVALID_SESSION_ID") {
		t.Errorf("call after the session timeout = %d %s, want 401 INVALID_SESSION_ID", code, body)
	}
	if code, _, _ := get("t2"); code != 200 {
		t.Errorf("call with a new token = %d, want 200", code)
	}
	if code, _, body := get("t2"); code != 403 || !strings.Contains(body, "REQUEST_LIMIT_EXCEEDED") {
		t.Errorf("third call with a limit of 2 = %d %s, want 403 REQUEST_LIMIT_EXCEEDED", code, body)
	}
	if used, limit := s.SalesforceUsage(); used != 2 || limit != 2 {
		t.Errorf("SalesforceUsage = %d/%d, want 2/2", used, limit)
	}
	mu.Lock()
	now = now.Add(24 * time.Hour)
	mu.Unlock()
	if code, _, _ := get("t3"); code != 200 {
		t.Errorf("call the next day = %d, want 200", code)
	}
	s.ExpireSessions()
	if code, _, _ := get("t3"); code != 401 {
		t.Errorf("call after ExpireSessions = %d, want 401", code)
	}
}
