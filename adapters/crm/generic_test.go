package crm_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
)

// customCRM serves fixed JSON answers by path (query included) and
// records what it was asked.
type customCRM struct {
	answers map[string]string
	got     []*http.Request
}

func (c *customCRM) start(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.got = append(c.got, r.Clone(context.Background()))
		body, ok := c.answers[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGenericLookupShapes(t *testing.T) {
	t.Parallel()
	ada := &crm.Contact{ID: "7", Name: "Ada", Email: "ada@example.com", Phone: "+14155550100"}
	updated := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		fields  map[string]string
		answers map[string]string
		want    crm.Lookup
	}{
		{
			name: "contacts list and records list",
			answers: map[string]string{
				"/contacts?phone=%2B14155550100":  `{"contacts":[{"id":"7","name":"Ada","email":"ada@example.com","phone":"+14155550100"}]}`,
				"/contacts/7/records?status=open": `{"records":[{"id":"1","subject":"Bill","status":"open","updated_at":"2026-11-22T10:00:00Z"}]}`,
			},
			want: crm.Lookup{Contact: ada, Records: []crm.Record{{ID: "1", Subject: "Bill", Status: "open", UpdatedAt: updated}}},
		},
		{
			name: "bare arrays and numeric ids",
			answers: map[string]string{
				"/contacts?phone=%2B14155550100":  `[{"id":7,"name":"Ada","email":"ada@example.com","phone":"+14155550100"}]`,
				"/contacts/7/records?status=open": `[{"id":1,"subject":"Bill"}]`,
			},
			want: crm.Lookup{Contact: ada, Records: []crm.Record{{ID: "1", Subject: "Bill"}}},
		},
		{
			name: "single object with embedded records",
			answers: map[string]string{
				"/contacts?phone=%2B14155550100": `{"id":"7","name":"Ada","email":"ada@example.com","phone":"+14155550100","records":[{"id":"2"}]}`,
			},
			want: crm.Lookup{Contact: ada, Records: []crm.Record{{ID: "2"}}},
		},
		{
			name: "EspoCRM list, records 404",
			answers: map[string]string{
				"/contacts?phone=%2B14155550100": `{"list":[{"id":"7","name":"Ada","email":"ada@example.com","phone":"+14155550100"}],"total":1}`,
			},
			want: crm.Lookup{Contact: ada, Records: []crm.Record{}},
		},
		{
			name: "dotted field mapping and extra fields",
			fields: map[string]string{"id": "key", "name": "attributes.full_name", "email": "attributes.mail",
				"phone": "attributes.tel", "tier": "account.tier", "record.id": "number", "record.subject": "title"},
			answers: map[string]string{
				"/contacts?phone=%2B14155550100":  `{"contacts":[{"key":"7","attributes":{"full_name":"Ada","mail":"ada@example.com","tel":"+14155550100"},"account":{"tier":"gold"}}]}`,
				"/contacts/7/records?status=open": `{"records":[{"number":"CS-1","title":"Bill"}]}`,
			},
			want: crm.Lookup{
				Contact: &crm.Contact{ID: "7", Name: "Ada", Email: "ada@example.com", Phone: "+14155550100", Fields: map[string]any{"tier": "gold"}},
				Records: []crm.Record{{ID: "CS-1", Subject: "Bill"}},
			},
		},
		{
			// The answer is queried in place: what encoding/json would
			// decode must come out the same (escaped names, the last of
			// duplicate names, numbers as written, values of extra
			// fields as json.Number and nested objects, a contact
			// without an id skipped, text after the first value ignored).
			name:   "JSON details as encoding/json reads them",
			fields: map[string]string{"score": "score", "owner": "owner", "gone": "gone"},
			answers: map[string]string{
				"/contacts?phone=%2B14155550100": `{"contacts":[{"name":"no id"},{"id":"1","id":7,"n\u0061me":"Ada","email":"ada@example.com","phone":"+14155550100",` +
					`"score":1.50,"owner":{"id":9,"tags":["a"]},"gone":null,"records":[{"id":12e3,"subject":"Bill"},{"subject":"no id"},"junk"]}]} trailing`,
			},
			want: crm.Lookup{
				Contact: &crm.Contact{ID: "7", Name: "Ada", Email: "ada@example.com", Phone: "+14155550100",
					Fields: map[string]any{"score": json.Number("1.50"), "owner": map[string]any{"id": json.Number("9"), "tags": []any{"a"}}}},
				Records: []crm.Record{{ID: "12e3", Subject: "Bill"}},
			},
		},
		{name: "empty list is not found", answers: map[string]string{"/contacts?phone=%2B14155550100": `{"contacts":[]}`}},
		{name: "object without id is not found", answers: map[string]string{"/contacts?phone=%2B14155550100": `{"name":"nobody"}`}},
		{name: "404 is not found", answers: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &customCRM{answers: tt.answers}
			srv := fake.start(t)
			cfg := crmConfig("generic")
			cfg.Generic.Fields = tt.fields
			got, err := newClient(t, cfg, srv).FindByPhone(t.Context(), "+14155550100")
			if err != nil {
				t.Fatalf("FindByPhone error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FindByPhone mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGenericWritesSendKeyAndHeaders(t *testing.T) {
	t.Parallel()
	fake := &customCRM{answers: map[string]string{
		"/records":                `{"id":42}`,
		"/records/42/comments":    `{"id":"c1"}`,
		"/records/42/attachments": `{"id":"a1"}`,
	}}
	srv := fake.start(t)
	cfg := crmConfig("generic")
	cfg.Auth = config.CRMAuth{Type: "header", Header: "X-Api-Key", Secret: "s3cret"}
	c := newClient(t, cfg, srv)
	ctx := t.Context()
	id, err := c.CreateRecord(ctx, crm.NewRecord{InteractionID: "i1", Subject: "s"}, "k-rec")
	if err != nil || id != "42" {
		t.Fatalf("CreateRecord = %q, %v; want 42", id, err)
	}
	if _, err := c.AddComment(ctx, id, crm.Comment{Body: "b"}, "k-com"); err != nil {
		t.Fatal(err)
	}
	a := crm.Attachment{Name: "call 1.wav", ContentType: "audio/wav", Part: 2, Parts: 3, Size: 3, Body: strings.NewReader("abc")}
	if _, err := c.AttachFile(ctx, id, a, "k-att"); err != nil {
		t.Fatal(err)
	}
	type sent struct{ Method, Path, Key, APIKey, Disposition, Part, Parts string }
	var got []sent
	for _, r := range fake.got {
		got = append(got, sent{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), r.Header.Get("X-Api-Key"),
			r.Header.Get("Content-Disposition"), r.Header.Get("Holdline-Part"), r.Header.Get("Holdline-Parts")})
	}
	want := []sent{
		{"POST", "/records", "k-rec", "s3cret", "", "", ""},
		{"POST", "/records/42/comments", "k-com", "s3cret", "", "", ""},
		{"POST", "/records/42/attachments", "k-att", "s3cret", `attachment; filename="call 1.wav"`, "2", "3"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}
	if cl := fake.got[2].ContentLength; cl != 3 {
		t.Errorf("attachment Content-Length = %d, want 3", cl)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*config.CRM)
		wants []string
	}{
		{"unknown kind", func(c *config.CRM) { c.Kind = "hubspot" }, []string{"dependencies.crm.kind"}},
		{"unknown placeholder", func(c *config.CRM) { c.Generic.CommentURL = "/records/{id}/comments" },
			[]string{"dependencies.crm.generic.comment_url: placeholder {id}", "dependencies.crm.generic.comment_url: must contain {record_id}"}},
		{"lookup without phone", func(c *config.CRM) { c.Generic.LookupURL = "/contacts" }, []string{"lookup_url: must contain {phone}"}},
		{"relative url", func(c *config.CRM) { c.Generic.AttachURL = "records/{record_id}" }, []string{"attach_url: \"records/{record_id}\" must be a path"}},
		{"empty create url", func(c *config.CRM) { c.Generic.CreateRecordURL = "" }, []string{"create_record_url: must be set"}},
		{"bad field path", func(c *config.CRM) { c.Generic.Fields = map[string]string{"name": "a..b"} }, []string{"fields.name"}},
		{"unknown record field", func(c *config.CRM) { c.Generic.Fields = map[string]string{"record.owner": "o"} }, []string{"fields.record.owner"}},
		{"header auth without header or secret", func(c *config.CRM) { c.Auth = config.CRMAuth{Type: "header"} },
			[]string{"auth.header: must be set", "auth.secret: must be set"}},
		{"basic without username", func(c *config.CRM) { c.Kind = "zendesk"; c.Auth = config.CRMAuth{Type: "basic", Secret: "x"} },
			[]string{"auth.username"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := crmConfig("generic")
			tt.edit(&cfg)
			c, err := crm.New(cfg, http.DefaultClient, func() string { return "http://127.0.0.1:1" })
			if err == nil || c != nil {
				t.Fatalf("New = %v, %v; want an error", c, err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}
