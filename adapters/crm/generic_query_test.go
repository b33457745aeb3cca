package crm_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/upstream"
)

// TestGenericManyMappedFields maps more contact fields than one object
// scan picks without allocating: every one must still come out, nested
// paths and the last of duplicate names included.
func TestGenericManyMappedFields(t *testing.T) {
	t.Parallel()
	fields := map[string]string{"name": "profile.name"}
	want := map[string]any{}
	body := `{"id":"7","profile":{"name":"Ada"},"phone":"+14155550100"`
	for i := range 12 {
		k := fmt.Sprintf("f%02d", i)
		fields[k] = k
		if i%3 == 0 {
			fields[k] = "nested." + k
			continue
		}
		body += fmt.Sprintf(`,%q:%d,%q:%d`, k, i, k, i+100)
		want[k] = json.Number(fmt.Sprint(i + 100))
	}
	body += `,"nested":{`
	for i := 0; i < 12; i += 3 {
		if i > 0 {
			body += ","
		}
		k := fmt.Sprintf("f%02d", i)
		body += fmt.Sprintf(`%q:"n%d"`, k, i)
		want[k] = fmt.Sprintf("n%d", i)
	}
	body += `},"records":[{"id":"r1","subject":"Bill"}]}`
	fake := &customCRM{answers: map[string]string{"/contacts?phone=%2B14155550100": body}}
	srv := fake.start(t)
	cfg := crmConfig("generic")
	cfg.Generic.Fields = fields
	got, err := newClient(t, cfg, srv).FindByPhone(t.Context(), "+14155550100")
	if err != nil {
		t.Fatalf("FindByPhone error = %v", err)
	}
	wantLookup := crm.Lookup{
		Contact: &crm.Contact{ID: "7", Name: "Ada", Phone: "+14155550100", Fields: want},
		Records: []crm.Record{{ID: "r1", Subject: "Bill"}},
	}
	if diff := cmp.Diff(wantLookup, got); diff != "" {
		t.Errorf("FindByPhone mismatch (-want +got):\n%s", diff)
	}
}

// TestGenericSendsRequestID checks that the request id in the context
// reaches the CRM on the adapter's own request (the dependency's
// transport then has nothing to add and need not clone it).
func TestGenericSendsRequestID(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(upstream.RequestIDHeader)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx := upstream.WithRequestID(t.Context(), "req-42")
	if _, err := newClient(t, crmConfig("generic"), srv).FindByPhone(ctx, "+14155550100"); err != nil {
		t.Fatalf("FindByPhone error = %v", err)
	}
	if id := <-got; id != "req-42" {
		t.Errorf("the CRM got %s %q, want %q", upstream.RequestIDHeader, id, "req-42")
	}
}
