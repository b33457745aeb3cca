// Package crmtest is the contract suite every crm.Client kind must pass,
// run against the CRM simulator (internal/sim). It is imported only by
// tests.
package crmtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/upstream"
)

// Seeded simulator data the suite relies on (see sim.NewCRM).
const (
	AdaPhone     = "+14155550100"
	AdaID        = "101"
	GraceMobile  = "+14155550199"
	GraceID      = "102"
	UnknownPhone = "+14155559999"
	AdaOpenID    = "1001"
)

// NewClientFunc returns a client of one kind talking to a fresh, seeded
// simulator that only this test uses, and that simulator.
type NewClientFunc func(t *testing.T) (crm.Client, *sim.CRM)

// Run runs the contract suite. Every subtest gets its own simulator and
// runs in parallel. After each subtest it checks the ledger invariant:
// no idempotency key appears on two objects of the same kind.
func Run(t *testing.T, newClient NewClientFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c crm.Client, s *sim.CRM)
	}{
		{"FindByPhone/known number gives contact and open records", testFindKnown},
		{"FindByPhone/mobile number", testFindMobile},
		{"FindByPhone/unknown number is nil contact and nil error", testFindUnknown},
		{"FindByPhone/quotes in the number are data, not query", testFindHostile},
		{"CreateRecord/creates one record", testCreate},
		{"CreateRecord/repeat with same key returns first id", testCreateReplay},
		{"CreateRecord/different keys create different records", testCreateTwoKeys},
		{"AddComment/adds in order and replays", testComment},
		{"AddComment/missing record is ErrNotFound", testCommentMissing},
		{"AttachFile/two parts in order and replays", testAttach},
		{"AttachFile/link", testAttachLink},
		{"AttachFile/missing record is ErrNotFound", testAttachMissing},
		{"AddComment/a replay after a lost answer does not duplicate", testCommentLostAnswer},
		{"AttachFile/a replay after a lost answer does not duplicate", testAttachLostAnswer},
		{"AttachFile/a 60 MB recording attaches in parts the CRM accepts", testAttachLarge},
		{"Errors/5xx is a StatusError with Retry-After", testUnavailable},
		{"Errors/connection reset is an error", testReset},
		{"Context/deadline cuts a hanging read", testHangRead},
		{"Context/deadline cuts a hanging write", testHangWrite},
		{"Context/cancelled context sends nothing", testCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, s := newClient(t)
			t.Cleanup(func() { CheckLedger(t, s) })
			tt.fn(t, c, s)
		})
	}
}

// CheckLedger fails t if an idempotency key was used for two records, two
// comments or two attachments: a write that should have been replayed was
// made twice.
func CheckLedger(t *testing.T, s *sim.CRM) {
	t.Helper()
	seen := map[string]string{}
	note := func(kind, key, id string) {
		if key == "" {
			return
		}
		if prev, ok := seen[kind+"\x00"+key]; ok {
			t.Errorf("ledger: %s key %q used by %s and %s", kind, key, prev, id)
		}
		seen[kind+"\x00"+key] = id
	}
	for _, r := range s.Records() {
		note("record", r.IdempotencyKey, r.ID)
		for _, c := range r.Comments {
			note("comment", c.IdempotencyKey, c.ID)
		}
		for _, a := range r.Attachments {
			note("attachment", a.IdempotencyKey, a.ID)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testFindKnown(t *testing.T, c crm.Client, _ *sim.CRM) {
	got, err := c.FindByPhone(ctxT(t), AdaPhone)
	if err != nil {
		t.Fatalf("FindByPhone(%q) error = %v", AdaPhone, err)
	}
	want := crm.Lookup{
		Contact: &crm.Contact{ID: AdaID, Name: "Ada Lovelace", Email: "ada@example.com", Phone: AdaPhone},
		Records: []crm.Record{{ID: AdaOpenID, Subject: "Billing question"}},
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(crm.Contact{}, "URL", "Fields"),
		cmpopts.IgnoreFields(crm.Record{}, "URL", "Status", "UpdatedAt"),
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Fatalf("FindByPhone(%q) mismatch (-want +got):\n%s", AdaPhone, diff)
	}
	if got.Contact.URL == "" {
		t.Errorf("FindByPhone(%q).Contact.URL is empty", AdaPhone)
	}
	for _, r := range got.Records {
		if r.Status == "" || r.URL == "" || r.UpdatedAt.IsZero() {
			t.Errorf("FindByPhone(%q) record %+v lacks status, url or updated_at", AdaPhone, r)
		}
	}
}

func testFindMobile(t *testing.T, c crm.Client, _ *sim.CRM) {
	got, err := c.FindByPhone(ctxT(t), GraceMobile)
	if err != nil {
		t.Fatalf("FindByPhone(%q) error = %v", GraceMobile, err)
	}
	if got.Contact == nil || got.Contact.ID != GraceID || len(got.Records) != 0 {
		t.Fatalf("FindByPhone(%q) = %+v, want contact %s with no records", GraceMobile, got, GraceID)
	}
}

func testFindUnknown(t *testing.T, c crm.Client, _ *sim.CRM) {
	got, err := c.FindByPhone(ctxT(t), UnknownPhone)
	if err != nil || got.Contact != nil || len(got.Records) != 0 {
		t.Fatalf("FindByPhone(%q) = %+v, %v; want empty Lookup, nil error", UnknownPhone, got, err)
	}
}

func testFindHostile(t *testing.T, c crm.Client, _ *sim.CRM) {
	for _, phone := range []string{`+1' OR Phone != '`, `+1\' OR Name != \'`, `+1" OR "1"="1`} {
		got, err := c.FindByPhone(ctxT(t), phone)
		if err != nil || got.Contact != nil {
			t.Errorf("FindByPhone(%q) = %+v, %v; want no contact, nil error", phone, got, err)
		}
	}
}

func newRecord(interaction string) crm.NewRecord {
	return crm.NewRecord{InteractionID: interaction, ContactID: AdaID, Phone: AdaPhone,
		Subject: "Call from Ada", Description: "Asked about invoice 42", Channel: "voice"}
}

// create makes a record under key and fails t on error.
func create(t *testing.T, c crm.Client, in crm.NewRecord, key string) string {
	t.Helper()
	id, err := c.CreateRecord(ctxT(t), in, key)
	if err != nil || id == "" {
		t.Fatalf("CreateRecord(%q, %q) = %q, %v; want an id", in.InteractionID, key, id, err)
	}
	return id
}

func record(t *testing.T, s *sim.CRM, id string) sim.CRMRecord {
	t.Helper()
	r, ok := s.Record(id)
	if !ok {
		t.Fatalf("ledger has no record %q", id)
	}
	return r
}

func testCreate(t *testing.T, c crm.Client, s *sim.CRM) {
	before := len(s.Records())
	id := create(t, c, newRecord("int-1"), "int-1/record")
	if n := len(s.Records()); n != before+1 {
		t.Fatalf("ledger has %d records after one create, want %d", n, before+1)
	}
	r := record(t, s, id)
	got := struct{ Interaction, Contact, Subject, Status string }{r.InteractionID, r.ContactID, r.Subject, r.Status}
	want := struct{ Interaction, Contact, Subject, Status string }{"int-1", AdaID, "Call from Ada", "open"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ledger record %s mismatch (-want +got):\n%s", id, diff)
	}
	if !strings.Contains(r.Description, "Asked about invoice 42") {
		t.Errorf("ledger record description = %q, want it to hold the description", r.Description)
	}
	l, err := c.FindByPhone(ctxT(t), AdaPhone)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, rec := range l.Records {
		ids = append(ids, rec.ID)
	}
	if len(ids) != 2 || !(ids[0] == id || ids[1] == id) {
		t.Errorf("FindByPhone after create: open records %v, want %s and %s", ids, AdaOpenID, id)
	}
}

func testCreateReplay(t *testing.T, c crm.Client, s *sim.CRM) {
	before := len(s.Records())
	first := create(t, c, newRecord("int-2"), "int-2/record")
	for range 3 {
		if again := create(t, c, newRecord("int-2"), "int-2/record"); again != first {
			t.Fatalf("CreateRecord replay = %q, want first id %q", again, first)
		}
	}
	if n := len(s.Records()); n != before+1 {
		t.Fatalf("ledger has %d records after a create and 3 replays, want %d", n, before+1)
	}
}

func testCreateTwoKeys(t *testing.T, c crm.Client, s *sim.CRM) {
	a := create(t, c, newRecord("int-3"), "int-3/record")
	b := create(t, c, newRecord("int-4"), "int-4/record")
	if a == b {
		t.Fatalf("two keys gave one record %q", a)
	}
	if got := record(t, s, b).InteractionID; got != "int-4" {
		t.Errorf("record %s interaction = %q, want int-4", b, got)
	}
}

func testComment(t *testing.T, c crm.Client, s *sim.CRM) {
	rec := create(t, c, newRecord("int-5"), "int-5/record")
	ctx := ctxT(t)
	first, err := c.AddComment(ctx, rec, crm.Comment{Body: "first note", Author: "agent7"}, "int-5/comment/1")
	if err != nil || first == "" {
		t.Fatalf("AddComment(first) = %q, %v", first, err)
	}
	again, err := c.AddComment(ctx, rec, crm.Comment{Body: "first note", Author: "agent7"}, "int-5/comment/1")
	if err != nil || again != first {
		t.Fatalf("AddComment replay = %q, %v; want %q", again, err, first)
	}
	second, err := c.AddComment(ctx, rec, crm.Comment{Body: "second note"}, "int-5/comment/2")
	if err != nil || second == "" || second == first {
		t.Fatalf("AddComment(second) = %q, %v; want a new id", second, err)
	}
	// A comment on a seeded record works too.
	if _, err := c.AddComment(ctx, AdaOpenID, crm.Comment{Body: "on seeded"}, "seed/comment"); err != nil {
		t.Fatalf("AddComment(%s) error = %v", AdaOpenID, err)
	}
	cs := record(t, s, rec).Comments
	if len(cs) != 2 {
		t.Fatalf("ledger record %s has %d comments, want 2: %+v", rec, len(cs), cs)
	}
	for i, want := range []string{"first note", "second note"} {
		if !strings.HasPrefix(cs[i].Body, want) {
			t.Errorf("comment %d body = %q, want it to start with %q", i, cs[i].Body, want)
		}
	}
}

func testCommentMissing(t *testing.T, c crm.Client, _ *sim.CRM) {
	_, err := c.AddComment(ctxT(t), "999999", crm.Comment{Body: "lost"}, "missing/comment")
	if !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("AddComment(missing) error = %v, want ErrNotFound", err)
	}
}

// payload returns n deterministic bytes distinct per seed.
func payload(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func testAttach(t *testing.T, c crm.Client, s *sim.CRM) {
	rec := create(t, c, newRecord("int-6"), "int-6/record")
	parts := [][]byte{payload(1, 300_001), payload(2, 1_234)}
	var ids []string
	attach := func(i int) string {
		t.Helper()
		a := crm.Attachment{Name: "call-int-6.wav", ContentType: "audio/wav", Part: i + 1, Parts: 2,
			Size: int64(len(parts[i])), Body: bytes.NewReader(parts[i])}
		id, err := c.AttachFile(ctxT(t), rec, a, fmt.Sprintf("int-6/attach/%d", i+1))
		if err != nil || id == "" {
			t.Fatalf("AttachFile(part %d) = %q, %v", i+1, id, err)
		}
		return id
	}
	ids = append(ids, attach(0))
	if again := attach(0); again != ids[0] {
		t.Fatalf("AttachFile(part 1) replay = %q, want %q", again, ids[0])
	}
	ids = append(ids, attach(1))
	type att struct {
		ID, Name, SHA256 string
		Part, Parts      int
		Size             int64
	}
	var got []att
	for _, a := range record(t, s, rec).Attachments {
		got = append(got, att{a.ID, a.Name, a.SHA256, a.Part, a.Parts, a.Size})
	}
	want := []att{
		{ids[0], "call-int-6.wav", sum(parts[0]), 1, 2, int64(len(parts[0]))},
		{ids[1], "call-int-6.wav", sum(parts[1]), 2, 2, int64(len(parts[1]))},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ledger attachments mismatch (-want +got):\n%s", diff)
	}
}

func testAttachLink(t *testing.T, c crm.Client, s *sim.CRM) {
	rec := create(t, c, newRecord("int-7"), "int-7/record")
	link := "https://storage.example/recordings/call-int-7.wav?X-Goog-Signature=abc"
	a := crm.Attachment{Name: "call-int-7.wav", Part: 1, Parts: 1, Link: link}
	id, err := c.AttachFile(ctxT(t), rec, a, "int-7/attach/1")
	if err != nil || id == "" {
		t.Fatalf("AttachFile(link) = %q, %v", id, err)
	}
	if again, err := c.AttachFile(ctxT(t), rec, a, "int-7/attach/1"); err != nil || again != id {
		t.Fatalf("AttachFile(link) replay = %q, %v; want %q", again, err, id)
	}
	as := record(t, s, rec).Attachments
	if len(as) != 1 || as[0].Link != link {
		t.Fatalf("ledger attachments = %+v, want one link %q", as, link)
	}
}

func testAttachMissing(t *testing.T, c crm.Client, _ *sim.CRM) {
	a := crm.Attachment{Name: "x.wav", Part: 1, Parts: 1, Size: 3, Body: strings.NewReader("abc")}
	_, err := c.AttachFile(ctxT(t), "999999", a, "missing/attach")
	if !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("AttachFile(missing) error = %v, want ErrNotFound", err)
	}
}

func setMode(t *testing.T, s *sim.CRM, m sim.CRMMode) {
	t.Helper()
	if err := s.SetMode(m); err != nil {
		t.Fatal(err)
	}
}

func testUnavailable(t *testing.T, c crm.Client, s *sim.CRM) {
	before := len(s.Records())
	setMode(t, s, sim.CRMMode{Kind: sim.Mode503, RetryAfter: 2 * time.Second})
	_, err := c.FindByPhone(ctxT(t), AdaPhone)
	want := &upstream.StatusError{Code: 503, RetryAfter: 2 * time.Second}
	if se, ok := errors.AsType[*upstream.StatusError](err); !ok || *se != *want {
		t.Errorf("FindByPhone in 503 mode error = %v, want %+v", err, want)
	}
	_, err = c.CreateRecord(ctxT(t), newRecord("int-8"), "int-8/record")
	if se, ok := errors.AsType[*upstream.StatusError](err); !ok || se.Code != 503 {
		t.Errorf("CreateRecord in 503 mode error = %v, want StatusError 503", err)
	}
	if errors.Is(err, crm.ErrNotFound) {
		t.Errorf("CreateRecord in 503 mode error = %v, must not be ErrNotFound", err)
	}
	if n := len(s.Records()); n != before {
		t.Errorf("ledger has %d records after failed creates, want %d", n, before)
	}
	setMode(t, s, sim.CRMMode{})
	if _, err := c.FindByPhone(ctxT(t), AdaPhone); err != nil {
		t.Errorf("FindByPhone after recovery error = %v", err)
	}
}

func testReset(t *testing.T, c crm.Client, s *sim.CRM) {
	setMode(t, s, sim.CRMMode{Kind: sim.ModeReset})
	_, err := c.FindByPhone(ctxT(t), AdaPhone)
	if err == nil {
		t.Fatal("FindByPhone on a reset connection succeeded")
	}
	if _, ok := errors.AsType[*upstream.StatusError](err); ok {
		t.Errorf("FindByPhone on a reset connection = %v, want a transport error", err)
	}
	if strings.Contains(err.Error(), AdaPhone) || strings.Contains(err.Error(), "4155550100") {
		t.Errorf("error %q leaks the phone number", err)
	}
}

// hang puts s in hang mode and returns a context that ends in 100ms.
func hang(t *testing.T, s *sim.CRM) context.Context {
	setMode(t, s, sim.CRMMode{Kind: sim.ModeHang, HangMax: 30 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func within(t *testing.T, start time.Time, err error) {
	t.Helper()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call returned after %v, want soon after the 100ms deadline", d)
	}
}

func testHangRead(t *testing.T, c crm.Client, s *sim.CRM) {
	ctx := hang(t, s)
	start := time.Now()
	_, err := c.FindByPhone(ctx, AdaPhone)
	within(t, start, err)
}

func testHangWrite(t *testing.T, c crm.Client, s *sim.CRM) {
	rec := create(t, c, newRecord("int-9"), "int-9/record")
	ctx := hang(t, s)
	start := time.Now()
	a := crm.Attachment{Name: "x.wav", Part: 1, Parts: 1, Size: 5, Body: strings.NewReader("hello")}
	_, err := c.AttachFile(ctx, rec, a, "int-9/attach/1")
	within(t, start, err)
}

func testCancelled(t *testing.T, c crm.Client, s *sim.CRM) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	before := s.Hits()
	if _, err := c.CreateRecord(ctx, newRecord("int-10"), "int-10/record"); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateRecord(cancelled) error = %v, want context.Canceled", err)
	}
	if _, err := c.FindByPhone(ctx, AdaPhone); !errors.Is(err, context.Canceled) {
		t.Errorf("FindByPhone(cancelled) error = %v, want context.Canceled", err)
	}
	if diff := cmp.Diff(before, s.Hits()); diff != "" {
		t.Errorf("a cancelled context still reached the CRM (-before +after):\n%s", diff)
	}
}
