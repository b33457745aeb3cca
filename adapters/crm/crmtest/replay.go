package crmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"testing"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/sim"
)

// The simulator routes of the last write of AddComment and AttachFile in
// each dialect: the answer lost in the lost-answer cases. Each kind only
// calls its own, so one list serves every kind.
var (
	commentWrites = []string{"generic.comment", "salesforce.case_comment", "zendesk.update_ticket"}
	attachWrites  = []string{"generic.attach", "salesforce.content_version", "zendesk.update_ticket"}
)

// loseAnswers makes the simulator carry out writes on routes and drop
// their answers, until the test sets another mode.
func loseAnswers(t *testing.T, s *sim.CRM, routes []string) {
	t.Helper()
	setMode(t, s, sim.CRMMode{Kind: sim.ModeLoseAnswer, Scope: sim.ScopeWrite, Routes: routes})
}

func testCommentLostAnswer(t *testing.T, c crm.Client, s *sim.CRM) {
	rec := create(t, c, newRecord("int-11"), "int-11/record")
	cm := crm.Comment{Body: "callback at 5pm", Author: "agent7"}
	loseAnswers(t, s, commentWrites)
	if id, err := c.AddComment(ctxT(t), rec, cm, "int-11/comment/1"); err == nil {
		t.Fatalf("AddComment with its answer lost = %q, nil; want an error", id)
	}
	if n := len(record(t, s, rec).Comments); n != 1 {
		t.Fatalf("ledger has %d comments after the lost answer, want 1 (the write happened)", n)
	}
	setMode(t, s, sim.CRMMode{})
	id, err := c.AddComment(ctxT(t), rec, cm, "int-11/comment/1")
	if err != nil {
		t.Fatalf("AddComment replay error = %v", err)
	}
	cs := record(t, s, rec).Comments
	if len(cs) != 1 || cs[0].ID != id {
		t.Fatalf("ledger comments after the replay = %+v, want only the first one, with id %q", cs, id)
	}
}

func testAttachLostAnswer(t *testing.T, c crm.Client, s *sim.CRM) {
	rec := create(t, c, newRecord("int-12"), "int-12/record")
	body := payload(3, 70_001)
	a := func() crm.Attachment {
		return crm.Attachment{Name: "call-int-12.wav", ContentType: "audio/wav", Part: 1, Parts: 1,
			Size: int64(len(body)), Body: bytes.NewReader(body)}
	}
	loseAnswers(t, s, attachWrites)
	if id, err := c.AttachFile(ctxT(t), rec, a(), "int-12/attach/1"); err == nil {
		t.Fatalf("AttachFile with its answer lost = %q, nil; want an error", id)
	}
	setMode(t, s, sim.CRMMode{})
	id, err := c.AttachFile(ctxT(t), rec, a(), "int-12/attach/1")
	if err != nil {
		t.Fatalf("AttachFile replay error = %v", err)
	}
	as := record(t, s, rec).Attachments
	if len(as) != 1 || as[0].ID != id || as[0].SHA256 != sum(body) {
		t.Fatalf("ledger attachments after the replay = %+v, want only the first one, with id %q", as, id)
	}
}

// largeRecording is the size of the recording testAttachLarge attaches:
// past Salesforce's 37.5 MB non-multipart limit and Zendesk's 50 MB
// upload limit.
const largeRecording = 60_000_000

func testAttachLarge(t *testing.T, c crm.Client, s *sim.CRM) {
	rec := create(t, c, newRecord("int-13"), "int-13/record")
	part := crm.MaxPartBytes(c, largeRecording)
	parts := int((largeRecording + part - 1) / part)
	src := newStream(largeRecording)
	var want []string
	for i := range parts {
		n := min(part, largeRecording-int64(i)*part)
		h := sha256.New()
		a := crm.Attachment{Name: "call-int-13.wav", ContentType: "audio/wav", Part: i + 1, Parts: parts,
			Size: n, Body: io.TeeReader(io.LimitReader(src, n), h)}
		if _, err := c.AttachFile(ctxT(t), rec, a, fmt.Sprintf("int-13/attach/%d", i+1)); err != nil {
			t.Fatalf("AttachFile(part %d of %d, %d bytes) error = %v", i+1, parts, n, err)
		}
		want = append(want, hex.EncodeToString(h.Sum(nil)))
	}
	var got []string
	var total int64
	for _, a := range record(t, s, rec).Attachments {
		got = append(got, a.SHA256)
		total += a.Size
	}
	if total != largeRecording || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ledger holds %d bytes in parts %v, want %d bytes in parts %v", total, got, int64(largeRecording), want)
	}
}

// stream is n deterministic bytes generated as they are read, so a large
// recording never sits in memory: 64 KiB blocks, each stamped with its
// index so that no two blocks are alike.
type stream struct {
	left  int64
	block []byte
	index uint64
	off   int
}

func newStream(n int64) *stream {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	s := &stream{left: n, block: b}
	s.stamp()
	return s
}

func (s *stream) stamp() { binary.BigEndian.PutUint64(s.block, s.index) }

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if s.off == len(s.block) {
		s.index++
		s.off = 0
		s.stamp()
	}
	n := copy(p, s.block[s.off:])
	n = int(min(int64(n), s.left))
	s.off += n
	s.left -= int64(n)
	return n, nil
}

// Stream returns n deterministic bytes generated as they are read, for
// tests that send large recordings without holding them in memory. Two
// Streams of the same n give the same bytes.
func Stream(n int64) io.Reader { return newStream(n) }
