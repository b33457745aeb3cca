package crm_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/holdline/holdline/adapters/crm"
)

// cannedTransport answers every request with body, in memory: the
// benchmark measures the adapter's own work (request building, reading
// and querying the answer), not loopback sockets.
type cannedTransport struct{ body string }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

// BenchmarkGenericFindByPhone is one screen pop's CRM lookup with the
// bench harness's 1 kB answer (a contact with four embedded records).
func BenchmarkGenericFindByPhone(b *testing.B) {
	var body strings.Builder
	body.WriteString(`{"contacts":[{"id":"c14155550100","name":"Caller","email":"caller@example.com","phone":"+14155550100","url":"https://crm.example/contacts/c1","records":[`)
	for i := range 4 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":"r%d","subject":"Billing question about invoice 2026-11-%02d","status":"open","url":"https://crm.example/records/r%d","updated_at":"2026-11-22T10:00:00Z"}`, i, i+1, i)
	}
	body.WriteString(`],"note":"` + strings.Repeat("x", 200) + `"}]}`)
	c, err := crm.New(crmConfig("generic"), &http.Client{Transport: cannedTransport{body.String()}}, func() string { return "http://crm.test" })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l, err := c.FindByPhone(b.Context(), "+14155550100")
		if err != nil || l.Contact == nil || len(l.Records) != 4 {
			b.Fatalf("FindByPhone = %+v, %v", l, err)
		}
	}
}
