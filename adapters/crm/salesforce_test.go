package crm_test

import (
	"strings"
	"testing"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/sim"
)

func TestSalesforceLongCommentIsCutAndStillReplays(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t, sim.CRMOptions{})
	c := newClient(t, crmConfig("salesforce"), srv)
	long := strings.Repeat("é", 5000)
	id, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: long, Author: "agent7"}, "long/1")
	if err != nil {
		t.Fatalf("AddComment(long) error = %v", err)
	}
	again, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: long, Author: "agent7"}, "long/1")
	if err != nil || again != id {
		t.Fatalf("AddComment(long) replay = %q, %v; want %q", again, err, id)
	}
	r, _ := s.Record("1001")
	if len(r.Comments) != 1 {
		t.Fatalf("ledger has %d comments, want 1", len(r.Comments))
	}
	body := r.Comments[0].Body
	if n := len([]rune(body)); n > 4000 || !strings.HasSuffix(body, "\n— agent7\n[holdline:long/1]") {
		t.Errorf("comment is %d runes ending %q; want <= 4000 ending with author and marker", n, body[len(body)-40:])
	}
}

func TestSalesforceCreateNeedsKey(t *testing.T) {
	t.Parallel()
	_, srv := startSim(t, sim.CRMOptions{})
	if _, err := newClient(t, crmConfig("salesforce"), srv).CreateRecord(t.Context(), crm.NewRecord{Subject: "s"}, ""); err == nil {
		t.Error("CreateRecord without a key succeeded; want an error")
	}
}
