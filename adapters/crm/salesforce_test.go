package crm_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/adapters/crm/crmtest"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/upstream"
)

func TestSalesforceLongCommentIsSplitAndReplays(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t, sim.CRMOptions{})
	c := newClient(t, crmConfig("salesforce"), srv)
	long := strings.Repeat("é", 5000) + "end" // 10,003 bytes, 5,003 characters
	id, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: long, Author: "agent7"}, "long/1")
	if err != nil {
		t.Fatalf("AddComment(long) error = %v", err)
	}
	again, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: long, Author: "agent7"}, "long/1")
	if err != nil || again != id {
		t.Fatalf("AddComment(long) replay = %q, %v; want %q", again, err, id)
	}
	r, _ := s.Record("1001")
	if len(r.Comments) != 3 || r.Comments[0].ID != id {
		t.Fatalf("ledger has comments %+v, want 3 parts, the first with id %q", r.Comments, id)
	}
	var text strings.Builder
	for i, cm := range r.Comments {
		trailer := fmt.Sprintf("\n— agent7\n[holdline:long/1 part %d/3]", i+1)
		if len(cm.Body) > 4000 || !utf8.ValidString(cm.Body) || !strings.HasSuffix(cm.Body, trailer) {
			t.Errorf("part %d is %d bytes ending %q; want <= 4000 valid UTF-8 bytes ending %q", i+1, len(cm.Body), cm.Body[max(0, len(cm.Body)-50):], trailer)
		}
		text.WriteString(strings.TrimSuffix(cm.Body, trailer))
	}
	if text.String() != long {
		t.Errorf("the parts hold %d bytes of text, want the whole %d-byte comment in order", text.Len(), len(long))
	}
}

func TestSalesforceCommentReplayReadsEveryQueryBatch(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t, sim.CRMOptions{Salesforce: sim.SalesforceOptions{QueryBatch: 2}})
	c := newClient(t, crmConfig("salesforce"), srv)
	var first string
	for i := range 5 {
		id, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: fmt.Sprint("note ", i)}, fmt.Sprint("page/", i))
		if err != nil {
			t.Fatalf("AddComment(%d) error = %v", i, err)
		}
		if i == 0 {
			first = id
		}
	}
	// Batches come in creation order: the newest comment is on batch 3.
	r, _ := s.Record("1001")
	newest := r.Comments[4].ID
	got, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: "note 4"}, "page/4")
	if err != nil || got != newest {
		t.Fatalf("AddComment replay of the comment on the third batch = %q, %v; want %q", got, err, newest)
	}
	if got, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: "note 0"}, "page/0"); err != nil || got != first {
		t.Fatalf("AddComment replay of the first comment = %q, %v; want %q", got, err, first)
	}
	if r, _ := s.Record("1001"); len(r.Comments) != 5 {
		t.Errorf("ledger has %d comments after two replays, want 5", len(r.Comments))
	}
	if n := s.Hits()["salesforce.query_more"]; n == 0 {
		t.Error("the replay never asked for a second query batch (salesforce.query_more)")
	}
}

func TestSalesforceDailyLimitIsTransient(t *testing.T) {
	t.Parallel()
	_, srv := startSim(t, sim.CRMOptions{Salesforce: sim.SalesforceOptions{DailyLimit: 3}})
	c, err := crm.NewSalesforce(crmConfig("salesforce"), srv.Client(), func() string { return srv.URL })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.APIUsage(); ok {
		t.Error("APIUsage before any call reports a usage")
	}
	for i := range 3 {
		if _, err := c.FindByPhone(t.Context(), crmtest.UnknownPhone); err != nil {
			t.Fatalf("FindByPhone %d within the limit error = %v", i+1, err)
		}
	}
	if u, ok := c.APIUsage(); !ok || u.Used != 3 || u.Limit != 3 || u.Remaining() != 0 {
		t.Errorf("APIUsage = %+v, %v; want 3 used of 3", u, ok)
	}
	_, err = c.AddComment(t.Context(), "1001", crm.Comment{Body: "x"}, "limit/1")
	se, ok := errors.AsType[*upstream.StatusError](err)
	switch {
	case !errors.Is(err, crm.ErrRequestLimit):
		t.Errorf("AddComment past the daily limit error = %v, want ErrRequestLimit", err)
	case !ok || se.Code != http.StatusForbidden:
		t.Errorf("AddComment past the daily limit error = %v, want a 403 StatusError", err)
	case upstream.IsPermanent(err) || errors.Is(err, crm.ErrNotFound):
		t.Errorf("AddComment past the daily limit error = %v is permanent; want it retried later", err)
	}
}

func TestSalesforceExpiredSessionIsTransient(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t, sim.CRMOptions{})
	cfg := crmConfig("salesforce")
	cfg.Auth = config.CRMAuth{Type: "bearer", Secret: "session-1"}
	c := newClient(t, cfg, srv)
	if _, err := c.FindByPhone(t.Context(), crmtest.AdaPhone); err != nil {
		t.Fatalf("FindByPhone with a live session error = %v", err)
	}
	s.ExpireSessions()
	_, err := c.CreateRecord(t.Context(), crm.NewRecord{Subject: "s"}, "session/1")
	if se, ok := errors.AsType[*upstream.StatusError](err); !errors.Is(err, crm.ErrSessionExpired) || !ok || se.Code != 401 || upstream.IsPermanent(err) {
		t.Errorf("CreateRecord with an expired session error = %v; want ErrSessionExpired, a transient 401", err)
	}
	cfg.Auth.Secret = "session-2" // what a token renewal hands the adapter
	if _, err := newClient(t, cfg, srv).CreateRecord(t.Context(), crm.NewRecord{Subject: "s"}, "session/1"); err != nil {
		t.Errorf("CreateRecord with a renewed token error = %v", err)
	}
}

// TestSalesforce120MBRecordingAttachesOnce attaches a 120 MB recording in
// parts of the default recordings.attach_part_bytes, losing the answer to
// part 2, then replays every part as the outbox would: three ContentVersions,
// each a multipart insert the real API accepts, each once.
func TestSalesforce120MBRecordingAttachesOnce(t *testing.T) {
	t.Parallel()
	const size = 120_000_000
	s, srv := startSim(t, sim.CRMOptions{})
	c := newClient(t, crmConfig("salesforce"), srv)
	rec, err := c.CreateRecord(t.Context(), crm.NewRecord{Subject: "big call"}, "big/record")
	if err != nil {
		t.Fatal(err)
	}
	part := crm.MaxPartBytes(c, config.Default().Recordings.AttachPartBytes)
	parts := int((size + part - 1) / part)
	attachAll := func(loseAt int) error {
		src := crmtest.Stream(size)
		for i := range parts {
			n := min(part, size-int64(i)*part)
			if i+1 == loseAt {
				if err := s.SetMode(sim.CRMMode{Kind: sim.ModeLoseAnswer, Routes: []string{"salesforce.content_version"}}); err != nil {
					t.Fatal(err)
				}
			}
			a := crm.Attachment{Name: "call-big.wav", ContentType: "audio/wav", Part: i + 1, Parts: parts, Size: n, Body: io.LimitReader(src, n)}
			_, err := c.AttachFile(t.Context(), rec, a, fmt.Sprintf("attach:big:part%d", i+1))
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := attachAll(2); err == nil {
		t.Fatal("attaching with part 2's answer lost succeeded; want an error")
	}
	if err := s.SetMode(sim.CRMMode{}); err != nil {
		t.Fatal(err)
	}
	if err := attachAll(0); err != nil {
		t.Fatalf("replaying the recording error = %v", err)
	}
	r, _ := s.Record(rec)
	var total int64
	for i, a := range r.Attachments {
		total += a.Size
		if a.Part != i+1 || a.Parts != parts || a.Size > part {
			t.Errorf("attachment %d = part %d of %d, %d bytes; want part %d of %d, at most %d bytes", i, a.Part, a.Parts, a.Size, i+1, parts, part)
		}
	}
	if len(r.Attachments) != 3 || total != size {
		t.Fatalf("ledger holds %d attachments, %d bytes; want 3 parts of %d bytes in all", len(r.Attachments), total, size)
	}
}

func TestSalesforceCreateNeedsKey(t *testing.T) {
	t.Parallel()
	_, srv := startSim(t, sim.CRMOptions{})
	if _, err := newClient(t, crmConfig("salesforce"), srv).CreateRecord(t.Context(), crm.NewRecord{Subject: "s"}, ""); err == nil {
		t.Error("CreateRecord without a key succeeded; want an error")
	}
}

// TestSalesforceLongCommentCutByAnOlderHoldlineIsNotRepeated: a comment an
// older holdline cut to fit, under the plain marker, counts as written.
func TestSalesforceLongCommentCutByAnOlderHoldlineIsNotRepeated(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t, sim.CRMOptions{})
	c := newClient(t, crmConfig("salesforce"), srv)
	cut := strings.Repeat("a", 3000) + "…\n[holdline:old/1]"
	id, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: cut}, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.AddComment(t.Context(), "1001", crm.Comment{Body: strings.Repeat("a", 5000)}, "old/1")
	if err != nil || got != id {
		t.Fatalf("AddComment replay of a comment cut by an older holdline = %q, %v; want %q", got, err, id)
	}
	if r, _ := s.Record("1001"); len(r.Comments) != 1 {
		t.Errorf("ledger has %d comments, want 1", len(r.Comments))
	}
}
