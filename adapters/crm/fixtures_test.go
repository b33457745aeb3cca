package crm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/upstream"
)

// fixtureAnswer is what the vendor server answers to one route.
type fixtureAnswer struct {
	status int
	file   string // under testdata/
	header http.Header
}

// sentRequest is a request the vendor server received, with its body.
type sentRequest struct {
	method, uri string
	header      http.Header
	length      int64 // Content-Length, -1 when unknown
	body        []byte
}

// vendor serves fixture answers from testdata by "METHOD path" (path
// without the query) and records every request with its body.
type vendor struct {
	t       *testing.T
	answers map[string]fixtureAnswer

	mu   sync.Mutex
	sent []sentRequest
}

func (v *vendor) start() *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.sent = append(v.sent, sentRequest{r.Method, r.URL.RequestURI(), r.Header.Clone(), r.ContentLength, body})
		v.mu.Unlock()
		a, ok := v.answers[r.Method+" "+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join("testdata", a.file))
		if err != nil {
			v.t.Errorf("fixture %s: %v", a.file, err)
		}
		for k, vs := range a.header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(b)
	}))
	v.t.Cleanup(srv.Close)
	return srv
}

// requests returns the recorded requests with the given method.
func (v *vendor) requests(method string) []sentRequest {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []sentRequest
	for _, r := range v.sent {
		if r.method == method {
			out = append(out, r)
		}
	}
	return out
}

func TestZendeskFixtureFindByPhone(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /api/v2/users/search.json":                  {200, "zendesk/users_search.json", nil},
		"GET /api/v2/users/35436/tickets/requested.json": {200, "zendesk/tickets_requested.json", nil},
	}}
	srv := v.start()
	got, err := newClient(t, crmConfig("zendesk"), srv).FindByPhone(t.Context(), "+14155550100")
	if err != nil {
		t.Fatalf("FindByPhone error = %v", err)
	}
	want := crm.Lookup{
		Contact: &crm.Contact{ID: "35436", Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+14155550100", URL: srv.URL + "/agent/users/35436"},
		Records: []crm.Record{{ID: "47", Subject: "Billing question", Status: "open", URL: srv.URL + "/agent/tickets/47",
			UpdatedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindByPhone mismatch (-want +got):\n%s", diff)
	}
	search := v.requests("GET")[0]
	if want := "/api/v2/users/search.json?query=phone%3A14155550100"; search.uri != want {
		t.Errorf("user search = %s, want %s (digits only, no +, as the caller-lookup guide says)", search.uri, want)
	}
}

func TestZendeskFixtureCommentShape(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /api/v2/tickets/47/audits.json": {200, "zendesk/audits.json", nil},
		"PUT /api/v2/tickets/47.json":        {200, "zendesk/ticket_update_answer.json", nil},
	}}
	srv := v.start()
	id, err := newClient(t, crmConfig("zendesk"), srv).AddComment(t.Context(), "47",
		crm.Comment{Body: "callback at 5pm", Author: "agent7"}, "int-1/comment/1")
	if err != nil || id != "1564245" {
		t.Fatalf("AddComment = %q, %v; want the Comment event id 1564245", id, err)
	}
	puts := v.requests("PUT")
	if len(puts) != 1 {
		t.Fatalf("AddComment sent %d updates, want 1", len(puts))
	}
	if k := puts[0].header.Get("Idempotency-Key"); k != "" {
		t.Errorf("the update carries Idempotency-Key %q; Zendesk documents it for ticket creation only", k)
	}
	var body map[string]any
	if err := json.Unmarshal(puts[0].body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"ticket": map[string]any{
		"comment":  map[string]any{"body": "callback at 5pm", "public": false},
		"metadata": map[string]any{"holdline_key": "int-1/comment/1", "holdline_author": "agent7"},
	}}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("update body mismatch (-want +got):\n%s", diff)
	}
}

func TestZendeskFixtureAttachReplayReadsAuditCustomMetadata(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /api/v2/tickets/47/audits.json": {200, "zendesk/audits.json", nil},
	}}
	srv := v.start()
	a := crm.Attachment{Name: "call-int-1.wav", Part: 1, Parts: 1, Size: 5, Body: strings.NewReader("hello")}
	id, err := newClient(t, crmConfig("zendesk"), srv).AttachFile(t.Context(), "47", a, "int-1/attach/1")
	if err != nil || id != "498483" {
		t.Fatalf("AttachFile replay = %q, %v; want the earlier attachment 498483", id, err)
	}
	if n := len(v.requests("POST")) + len(v.requests("PUT")); n != 0 {
		t.Errorf("a replay found in metadata.custom sent %d writes, want 0", n)
	}
}

func TestZendeskFixtureAttachUploadsThenComments(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /api/v2/tickets/47/audits.json": {200, "zendesk/audits.json", nil},
		"POST /api/v2/uploads.json":          {201, "zendesk/upload_answer.json", nil},
		"PUT /api/v2/tickets/47.json":        {200, "zendesk/ticket_update_answer.json", nil},
	}}
	srv := v.start()
	a := crm.Attachment{Name: "call-int-2.wav", ContentType: "audio/wav", Part: 1, Parts: 2, Size: 5, Body: strings.NewReader("hello")}
	id, err := newClient(t, crmConfig("zendesk"), srv).AttachFile(t.Context(), "47", a, "int-2/attach/1")
	if err != nil || id != "498483" {
		t.Fatalf("AttachFile = %q, %v; want the upload's attachment id 498483", id, err)
	}
	up := v.requests("POST")
	if len(up) != 1 || string(up[0].body) != "hello" || up[0].header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("uploads = %+v, want one raw audio/wav body", up)
	}
	var body struct {
		Ticket struct {
			Comment  map[string]any `json:"comment"`
			Metadata map[string]any `json:"metadata"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(v.requests("PUT")[0].body, &body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"6bk3gql82em5nmf"}, body.Ticket.Comment["uploads"]); diff != "" {
		t.Errorf("comment uploads mismatch (-want +got):\n%s", diff)
	}
	if body.Ticket.Metadata["holdline_key"] != "int-2/attach/1" || body.Ticket.Metadata["custom"] != nil {
		t.Errorf("ticket.metadata = %v, want holdline_key at its top level (Zendesk adds the custom level)", body.Ticket.Metadata)
	}
}

func TestZendeskFixtureCreateSendsIdempotencyKey(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /api/v2/tickets.json":  {200, "zendesk/tickets_none.json", nil},
		"POST /api/v2/tickets.json": {201, "zendesk/ticket_create_answer.json", nil},
	}}
	srv := v.start()
	id, err := newClient(t, crmConfig("zendesk"), srv).CreateRecord(t.Context(),
		crm.NewRecord{Subject: "Call from Ada", InteractionID: "int-1"}, "int-1/record")
	if err != nil || id != "48" {
		t.Fatalf("CreateRecord = %q, %v; want 48", id, err)
	}
	post := v.requests("POST")[0]
	if k := post.header.Get("Idempotency-Key"); k != "int-1/record" {
		t.Errorf("create Idempotency-Key = %q, want int-1/record", k)
	}
	var body struct {
		Ticket map[string]any `json:"ticket"`
	}
	if err := json.Unmarshal(post.body, &body); err != nil {
		t.Fatal(err)
	}
	wantMeta := map[string]any{"holdline_key": "int-1/record", "holdline_interaction": "int-1"}
	if diff := cmp.Diff(wantMeta, body.Ticket["metadata"]); diff != "" || body.Ticket["external_id"] != "int-1/record" {
		t.Errorf("create ticket.metadata mismatch (-want +got):\n%s\nexternal_id = %v", diff, body.Ticket["external_id"])
	}
}

func TestSalesforceFixtureReplayFollowsNextRecordsURL(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /services/data/v60.0/query":                      {200, "salesforce/query_first_batch.json", nil},
		"GET /services/data/v60.0/query/01gD0000002HU6KIAW-2": {200, "salesforce/query_next_batch.json", nil},
		"POST /services/data/v60.0/sobjects/CaseComment":      {201, "salesforce/create_answer.json", nil},
	}}
	srv := v.start()
	id, err := newClient(t, crmConfig("salesforce"), srv).AddComment(t.Context(), "500D0000001",
		crm.Comment{Body: "callback at 5pm", Author: "agent7"}, "int-1/comment/1")
	if err != nil || id != "00aD000000AAAA3" {
		t.Fatalf("AddComment replay = %q, %v; want 00aD000000AAAA3 from the second batch", id, err)
	}
	if n := len(v.requests("POST")); n != 0 {
		t.Errorf("a replay found on the second batch posted %d comments, want 0", n)
	}
}

func TestSalesforceFixtureAttachIsMultipart(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /services/data/v60.0/query":                    {200, "salesforce/query_empty.json", nil},
		"POST /services/data/v60.0/sobjects/ContentVersion": {201, "salesforce/create_answer.json", nil},
	}}
	srv := v.start()
	payload := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	a := crm.Attachment{Name: `call "1".wav`, ContentType: "audio/wav", Part: 2, Parts: 3, Size: int64(len(payload)), Body: bytes.NewReader(payload)}
	id, err := newClient(t, crmConfig("salesforce"), srv).AttachFile(t.Context(), "500D0000001", a, "attach:r1:part2")
	if err != nil || id != "068D00000000pgOIAQ" {
		t.Fatalf("AttachFile = %q, %v; want 068D00000000pgOIAQ", id, err)
	}
	post := v.requests("POST")[0]
	mt, params, err := mime.ParseMediaType(post.header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type = %q, want multipart/form-data", post.header.Get("Content-Type"))
	}
	if post.length != int64(len(post.body)) {
		t.Errorf("Content-Length %d, body %d bytes; want the exact length up front", post.length, len(post.body))
	}
	mr := multipart.NewReader(bytes.NewReader(post.body), params["boundary"])
	first, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.NewDecoder(first).Decode(&fields); err != nil || first.FormName() != "entity_content" || first.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("first part %q (%s): %v; want entity_content, application/json", first.FormName(), first.Header.Get("Content-Type"), err)
	}
	want := map[string]any{"Title": `call "1".wav`, "PathOnClient": `call "1".wav`, "FirstPublishLocationId": "500D0000001",
		"Description": "holdline recording part 2 of 3", "ReasonForChange": "holdline:attach:r1:part2"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("field data mismatch (-want +got):\n%s", diff)
	}
	blob, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(blob)
	if blob.FormName() != "VersionData" || blob.FileName() != `call "1".wav` || !bytes.Equal(got, payload) {
		t.Errorf("binary part %q file %q with %d bytes; want VersionData with the %d payload bytes", blob.FormName(), blob.FileName(), len(got), len(payload))
	}
	if _, err := mr.NextPart(); !errors.Is(err, io.EOF) {
		t.Errorf("a third part follows (%v); want exactly two", err)
	}
}

func TestSalesforceFixtureErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		file   string
		want   error
	}{
		{403, "salesforce/error_request_limit.json", crm.ErrRequestLimit},
		{401, "salesforce/error_invalid_session.json", crm.ErrSessionExpired},
	}
	for _, tt := range tests {
		v := &vendor{t: t, answers: map[string]fixtureAnswer{
			"PATCH /services/data/v60.0/sobjects/Case/Holdline_Key__c/k": {tt.status, tt.file, nil},
		}}
		srv := v.start()
		_, err := newClient(t, crmConfig("salesforce"), srv).CreateRecord(t.Context(), crm.NewRecord{Subject: "s"}, "k")
		if !errors.Is(err, tt.want) || upstream.IsPermanent(err) {
			t.Errorf("CreateRecord answered %d %s: error = %v; want %v, not permanent", tt.status, tt.file, err, tt.want)
		}
	}
	// Any other 403 stays permanent: the integration user lacks a permission.
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"PATCH /services/data/v60.0/sobjects/Case/Holdline_Key__c/k": {403, "salesforce/error_invalid_session.json", nil},
	}}
	_, err := newClient(t, crmConfig("salesforce"), v.start()).CreateRecord(t.Context(), crm.NewRecord{Subject: "s"}, "k")
	if !upstream.IsPermanent(err) || errors.Is(err, crm.ErrRequestLimit) {
		t.Errorf("CreateRecord answered 403 INVALID_SESSION_ID: error = %v; want a permanent 403", err)
	}
}

func TestSalesforceFixtureLimitInfo(t *testing.T) {
	t.Parallel()
	v := &vendor{t: t, answers: map[string]fixtureAnswer{
		"GET /services/data/v60.0/query": {200, "salesforce/query_next_batch.json",
			http.Header{"Sforce-Limit-Info": {"api-usage=10018/100000; api-bursts=1/750"}}},
	}}
	srv := v.start()
	c, err := crm.NewSalesforce(crmConfig("salesforce"), srv.Client(), func() string { return srv.URL })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindByPhone(t.Context(), "+14155550100"); err != nil {
		t.Fatal(err)
	}
	if u, ok := c.APIUsage(); !ok || u.Used != 10018 || u.Limit != 100000 || u.Remaining() != 89982 {
		t.Errorf("APIUsage = %+v, %v; want 10018 of 100000", u, ok)
	}
}
