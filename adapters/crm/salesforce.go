package crm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdline/holdline/internal/config"
)

// sfAPI is the Salesforce REST API root holdline speaks.
const sfAPI = "/services/data/v60.0"

// sfKeyField is the Case external id field that makes record creation an
// upsert. The org must have it: Text, External ID, Unique.
const sfKeyField = "Holdline_Key__c"

// sfCommentMax is CaseComment.CommentBody's length limit.
const sfCommentMax = 4000

// Salesforce errorCodes that mean a write named a record that is not there.
var sfNotFoundCodes = []string{"INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED", "MALFORMED_ID", "NOT_FOUND"}

// Salesforce speaks the Salesforce REST API v60.0: Contacts, Cases,
// CaseComments and ContentVersions. It is safe for concurrent use.
type Salesforce struct {
	c conn
}

var _ Client = (*Salesforce)(nil)

// NewSalesforce returns the Salesforce adapter. auth is normally bearer
// (an OAuth access token); the caller refreshes it.
func NewSalesforce(cfg config.CRM, hc *http.Client, endpoint func() string) (*Salesforce, error) {
	cn, err := newConn(cfg, hc, endpoint)
	if err != nil {
		return nil, err
	}
	return &Salesforce{c: cn}, nil
}

// soqlQuote returns s as a SOQL string literal.
func soqlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\', '\'', '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

type sfQueryResult[T any] struct {
	TotalSize int  `json:"totalSize"`
	Done      bool `json:"done"`
	Records   []T  `json:"records"`
}

func (s *Salesforce) query(ctx context.Context, soql string, out any) error {
	req, err := s.c.newRequest(ctx, http.MethodGet, sfAPI+"/query?q="+url.QueryEscape(soql), nil, "")
	if err != nil {
		return err
	}
	_, err = s.c.do(req, out)
	return err
}

// sfTimeLayout is how Salesforce writes datetimes.
const sfTimeLayout = "2006-01-02T15:04:05.000-0700"

// FindByPhone queries the Contact whose Phone or MobilePhone is exactly
// e164, then its open Cases, newest first. Salesforce matches phone
// fields as stored, so contacts must be stored in E.164.
func (s *Salesforce) FindByPhone(ctx context.Context, e164 string) (Lookup, error) {
	var contacts sfQueryResult[struct {
		ID    string `json:"Id"`
		Name  string
		Email string
		Phone string
	}]
	q := "SELECT Id, Name, Email, Phone FROM Contact WHERE Phone = " + soqlQuote(e164) +
		" OR MobilePhone = " + soqlQuote(e164) + " LIMIT 1"
	if err := s.query(ctx, q, &contacts); err != nil {
		return Lookup{}, fmt.Errorf("crm: find contact: %w", err)
	}
	if len(contacts.Records) == 0 {
		return Lookup{}, nil
	}
	base, _ := s.c.base()
	ct := contacts.Records[0]
	out := Lookup{
		Contact: &Contact{ID: ct.ID, Name: ct.Name, Email: ct.Email, Phone: ct.Phone, URL: base + "/lightning/r/Contact/" + ct.ID + "/view"},
		Records: []Record{},
	}
	var cases sfQueryResult[struct {
		ID               string `json:"Id"`
		Subject          string
		Status           string
		LastModifiedDate string
	}]
	q = "SELECT Id, Subject, Status, LastModifiedDate FROM Case WHERE ContactId = " + soqlQuote(ct.ID) +
		" AND IsClosed = false ORDER BY LastModifiedDate DESC LIMIT 50"
	if err := s.query(ctx, q, &cases); err != nil {
		return Lookup{}, fmt.Errorf("crm: list cases: %w", err)
	}
	for _, c := range cases.Records {
		r := Record{ID: c.ID, Subject: c.Subject, Status: c.Status, URL: base + "/lightning/r/Case/" + c.ID + "/view"}
		if t, err := time.Parse(sfTimeLayout, c.LastModifiedDate); err == nil {
			r.UpdatedAt = t
		}
		out.Records = append(out.Records, r)
	}
	return out, nil
}

// sfOrigin maps a holdline channel to the Case Origin picklist.
var sfOrigin = map[string]string{"voice": "Phone", "phone": "Phone", "email": "Email", "chat": "Web", "web": "Web"}

// CreateRecord upserts a Case on the Holdline_Key__c external id, so a
// replay with the same key updates that Case (its Subject, Description
// and Fields) instead of creating another. in.Fields are sent as Case
// fields (custom fields included); the interaction id is a trailer line of
// the Description. The key must not be empty.
func (s *Salesforce) CreateRecord(ctx context.Context, in NewRecord, idemKey string) (string, error) {
	if idemKey == "" {
		return "", errors.New("crm: create case: salesforce needs an idempotency key (the Holdline_Key__c upsert key)")
	}
	body := map[string]any{}
	if o := sfOrigin[strings.ToLower(in.Channel)]; o != "" {
		body["Origin"] = o
	}
	if in.Phone != "" {
		body["SuppliedPhone"] = in.Phone
	}
	for k, v := range in.Fields {
		body[k] = v
	}
	delete(body, sfKeyField) // it is in the URL; Salesforce refuses it twice
	body["Subject"] = in.Subject
	desc := in.Description
	if in.InteractionID != "" {
		if desc != "" {
			desc += "\n\n"
		}
		desc += "holdline interaction: " + in.InteractionID
	}
	body["Description"] = desc
	if in.ContactID != "" {
		body["ContactId"] = in.ContactID
	}
	req, err := s.c.jsonRequest(ctx, http.MethodPatch, sfAPI+"/sobjects/Case/"+sfKeyField+"/"+url.PathEscape(idemKey), body, "")
	if err != nil {
		return "", fmt.Errorf("crm: create case: %w", err)
	}
	var answer struct{ ID string }
	if _, err := s.c.do(req, &answer); err != nil {
		return "", fmt.Errorf("crm: create case: %w", err)
	}
	if answer.ID == "" {
		return "", errors.New("crm: create case: the answer has no id")
	}
	return answer.ID, nil
}

// sfMarker is the last line of a CaseComment holdline wrote with key.
func sfMarker(key string) string { return "[holdline:" + key + "]" }

// AddComment adds a CaseComment. CaseComment has no external id, so the
// body ends with a marker line "[holdline:KEY]" and the adapter first
// queries the case's comments for it: a replay returns the earlier
// comment's id. The author, when set, is a line before the marker. A body
// too long for CommentBody (4,000 characters) is cut to fit.
func (s *Salesforce) AddComment(ctx context.Context, recordID string, c Comment, idemKey string) (string, error) {
	tail := ""
	if c.Author != "" {
		tail += "\n— " + c.Author
	}
	if idemKey != "" {
		tail += "\n" + sfMarker(idemKey)
		var existing sfQueryResult[struct {
			ID          string `json:"Id"`
			CommentBody string
		}]
		if err := s.query(ctx, "SELECT Id, CommentBody FROM CaseComment WHERE ParentId = "+soqlQuote(recordID), &existing); err != nil {
			return "", fmt.Errorf("crm: add case comment: find earlier: %w", err)
		}
		for _, cm := range existing.Records {
			if strings.HasSuffix(strings.TrimSpace(cm.CommentBody), sfMarker(idemKey)) {
				return cm.ID, nil
			}
		}
	}
	body := truncate(c.Body, sfCommentMax-utf8.RuneCountInString(tail)) + tail
	req, err := s.c.jsonRequest(ctx, http.MethodPost, sfAPI+"/sobjects/CaseComment",
		map[string]any{"ParentId": recordID, "CommentBody": body, "IsPublished": false}, "")
	if err != nil {
		return "", fmt.Errorf("crm: add case comment: %w", err)
	}
	var answer struct{ ID string }
	if err := s.write(req, &answer); err != nil {
		return "", fmt.Errorf("crm: add case comment: %w", err)
	}
	return answer.ID, nil
}

// truncate cuts s to at most n runes, ending with an ellipsis when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// sfReason is the ContentVersion.ReasonForChange that marks a key.
func sfReason(key string) string { return "holdline:" + key }

// AttachFile adds a ContentVersion published to the case: the part's
// bytes as base64 VersionData (streamed, never held in memory), or a link
// as ContentUrl. ContentVersion cannot be upserted, so ReasonForChange
// carries "holdline:KEY" and the adapter first queries for it: a replay
// returns the earlier version's id. Description says "part N of M". It
// reads a.Body but does not close it.
func (s *Salesforce) AttachFile(ctx context.Context, recordID string, a Attachment, idemKey string) (string, error) {
	fields := map[string]any{"Title": a.Name, "FirstPublishLocationId": recordID}
	if p := partLabel(a); p != "" {
		fields["Description"] = "holdline recording " + p
	}
	if idemKey != "" {
		fields["ReasonForChange"] = sfReason(idemKey)
		var existing sfQueryResult[struct {
			ID string `json:"Id"`
		}]
		q := "SELECT Id FROM ContentVersion WHERE ReasonForChange = " + soqlQuote(sfReason(idemKey)) + " LIMIT 1"
		if err := s.query(ctx, q, &existing); err != nil {
			return "", fmt.Errorf("crm: attach content version: find earlier: %w", err)
		}
		if len(existing.Records) > 0 {
			return existing.Records[0].ID, nil
		}
	}
	var answer struct{ ID string }
	var err error
	if a.Link != "" {
		fields["ContentUrl"] = a.Link
		var req *http.Request
		req, err = s.c.jsonRequest(ctx, http.MethodPost, sfAPI+"/sobjects/ContentVersion", fields, "")
		if err == nil {
			err = s.write(req, &answer)
		}
	} else {
		fields["PathOnClient"] = a.Name
		err = s.postVersionData(ctx, fields, a, &answer)
	}
	if err != nil {
		return "", fmt.Errorf("crm: attach content version: %w", err)
	}
	return answer.ID, nil
}

// postVersionData posts fields plus a.Body as base64 VersionData,
// encoding as the transport reads. It returns only once it has stopped
// reading a.Body.
func (s *Salesforce) postVersionData(ctx context.Context, fields map[string]any, a Attachment, out any) error {
	head, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	head = append(head[:len(head)-1], `,"VersionData":"`...)
	tail := []byte(`"}`)
	src := a.Body
	if src == nil {
		src = bytes.NewReader(nil)
	}
	pr, pw := io.Pipe()
	req, err := s.c.newRequest(ctx, http.MethodPost, sfAPI+"/sobjects/ContentVersion", pr, "")
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.Size > 0 && a.Body != nil {
		req.ContentLength = int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(a.Size))) + int64(len(tail))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		_, err := pw.Write(head)
		if err == nil {
			_, err = io.Copy(enc, src)
		}
		if err == nil {
			err = enc.Close()
		}
		if err == nil {
			_, err = pw.Write(tail)
		}
		pw.CloseWithError(err)
	}()
	err = s.write(req, out)
	_ = pr.CloseWithError(errors.New("request finished"))
	<-done
	return err
}

// write sends a write; a 404, or a 400 whose errorCode says the named
// record is missing, is ErrNotFound.
func (s *Salesforce) write(req *http.Request, out any) error {
	body, err := s.c.do(req, out)
	if err == nil {
		return nil
	}
	if hasStatus(err, http.StatusNotFound) {
		return notFound(err)
	}
	if hasStatus(err, http.StatusBadRequest) {
		var errs []struct{ ErrorCode string }
		if json.Unmarshal(body, &errs) == nil {
			for _, e := range errs {
				if slices.Contains(sfNotFoundCodes, e.ErrorCode) {
					return notFound(fmt.Errorf("%s: %w", e.ErrorCode, err))
				}
			}
		}
	}
	return err
}
