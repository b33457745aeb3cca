package crm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// sfCommentMaxBytes is CaseComment.CommentBody's limit: 4,000 bytes
// (Object Reference, "CaseComment"), counted in UTF-8 bytes, not
// characters: 4,000 "é" do not fit.
const sfCommentMaxBytes = 4000

// sfAuthorMaxBytes bounds the author line, so that a part always has room
// for text.
const sfAuthorMaxBytes = 200

// sfMarker is the last line of a CaseComment holdline wrote with key: the
// whole comment's marker, or, for a comment split in n > 1 parts, part
// i's.
func sfMarker(key string, i, n int) string {
	if n <= 1 {
		return "[holdline:" + key + "]"
	}
	return "[holdline:" + key + " part " + strconv.Itoa(i) + "/" + strconv.Itoa(n) + "]"
}

// AddComment adds the comment as private CaseComments and returns the
// (first) comment's id.
//
// A body too long for one CommentBody (4,000 bytes with the trailer) is
// split at character boundaries into several CaseComments, in order, so
// that nothing an agent wrote is lost; each part ends with the author line
// (when set) and its own marker "[holdline:KEY part I/N]" (a one-part
// comment's marker is "[holdline:KEY]").
//
// CaseComment has no external id, so the adapter first reads every
// comment of the case (all query batches) for the markers and creates only
// the parts not there yet: a replay after a lost answer, or after a failure
// between parts, adds nothing twice and returns the first part's id.
func (s *Salesforce) AddComment(ctx context.Context, recordID string, c Comment, idemKey string) (string, error) {
	author := ""
	if c.Author != "" {
		author = "\n— " + truncateBytes(c.Author, sfAuthorMaxBytes)
	}
	parts := sfSplit(c.Body, author, idemKey)
	done := map[string]string{} // marker -> comment id
	if idemKey != "" {
		type sfComment struct {
			ID          string `json:"Id"`
			CommentBody string
		}
		err := sfQuery(ctx, s, "SELECT Id, CommentBody FROM CaseComment WHERE ParentId = "+soqlQuote(recordID),
			func(cm sfComment) bool {
				body := strings.TrimSpace(cm.CommentBody)
				if i := strings.LastIndexByte(body, '\n'); i >= 0 {
					body = body[i+1:]
				}
				if strings.HasPrefix(body, "[holdline:"+idemKey) {
					done[body] = cm.ID
				}
				return true
			})
		if err != nil {
			return "", fmt.Errorf("crm: add case comment: find earlier: %w", err)
		}
	}
	if id, ok := done[sfMarker(idemKey, 1, 1)]; ok && idemKey != "" {
		return id, nil // written whole (or cut to fit by an older holdline)
	}
	first := ""
	for i, p := range parts {
		id, ok := done[p.marker]
		if !ok || p.marker == "" {
			var err error
			if id, err = s.postComment(ctx, recordID, p.body); err != nil {
				return "", fmt.Errorf("crm: add case comment (part %d of %d): %w", i+1, len(parts), err)
			}
		}
		if i == 0 {
			first = id
		}
	}
	return first, nil
}

func (s *Salesforce) postComment(ctx context.Context, recordID, body string) (string, error) {
	req, err := s.c.jsonRequest(ctx, http.MethodPost, sfAPI+"/sobjects/CaseComment",
		map[string]any{"ParentId": recordID, "CommentBody": body, "IsPublished": false}, "")
	if err != nil {
		return "", err
	}
	var answer struct{ ID string }
	if err := s.write(req, &answer); err != nil {
		return "", err
	}
	return answer.ID, nil
}

// sfPart is one CaseComment of a comment: its whole body and its marker
// line ("" without a key).
type sfPart struct{ body, marker string }

// sfSplit cuts text into CommentBodies of at most sfCommentMaxBytes, each
// ending with author and its marker.
func sfSplit(text, author, key string) []sfPart {
	trailer := func(i, n int) (string, string) {
		if key == "" {
			return author, ""
		}
		m := sfMarker(key, i, n)
		return author + "\n" + m, m
	}
	if t, m := trailer(1, 1); len(text)+len(t) <= sfCommentMaxBytes {
		return []sfPart{{text + t, m}}
	}
	// Room for text in each part, with a trailer wide enough for any part
	// number up to n; grow n's width until the split fits it.
	for width := 1; ; width++ {
		widest := strings.Repeat("9", width)
		t, _ := trailer(0, 0)
		if key != "" {
			t = author + "\n" + "[holdline:" + key + " part " + widest + "/" + widest + "]"
		}
		chunks := splitBytes(text, sfCommentMaxBytes-len(t))
		if len(strconv.Itoa(len(chunks))) > width {
			continue
		}
		out := make([]sfPart, len(chunks))
		for i, ch := range chunks {
			t, m := trailer(i+1, len(chunks))
			out[i] = sfPart{ch + t, m}
		}
		return out
	}
}

// splitBytes cuts s into pieces of at most n bytes (n > 0), never inside
// a UTF-8 character.
func splitBytes(s string, n int) []string {
	n = max(n, utf8.UTFMax)
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// truncateBytes cuts s to at most n bytes at a character boundary, ending
// with "…" when cut.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
