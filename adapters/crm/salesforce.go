package crm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// sfAPI is the Salesforce REST API root holdline speaks.
const sfAPI = "/services/data/v60.0"

// sfKeyField is the Case external id field that makes record creation an
// upsert. The org must have it: Text, External ID, Unique.
const sfKeyField = "Holdline_Key__c"

// Salesforce speaks the Salesforce REST API v60.0: Contacts, Cases,
// CaseComments and ContentVersions. It is safe for concurrent use.
type Salesforce struct {
	c     conn
	usage usage
}

var _ Client = (*Salesforce)(nil)

// NewSalesforce returns the Salesforce adapter. auth is normally
// jwt_bearer (Salesforce's OAuth 2.0 JWT bearer flow, token_url
// /services/oauth2/token) or client_credentials, whose tokens the adapter
// renews itself; bearer is a static access token.
func NewSalesforce(cfg config.CRM, hc *http.Client, endpoint func() string) (*Salesforce, error) {
	cn, err := newConn(cfg, hc, endpoint)
	if err != nil {
		return nil, err
	}
	s := &Salesforce{c: cn, usage: usage{now: cn.now}}
	s.c.observe = s.usage.observe
	return s, nil
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
	TotalSize      int    `json:"totalSize"`
	Done           bool   `json:"done"`
	NextRecordsURL string `json:"nextRecordsUrl"`
	Records        []T    `json:"records"`
}

// sfQuery runs soql and calls each with every record, following
// nextRecordsUrl until done (REST API Developer Guide, "Query" and "Query
// More Results": an answer holds at most one batch, up to 2,000 records).
// It stops early, without reading further batches, when each returns
// false, and fails past sfMaxBatches, a guard against a locator loop.
func sfQuery[T any](ctx context.Context, s *Salesforce, soql string, each func(T) bool) error {
	path := sfAPI + "/query?q=" + url.QueryEscape(soql)
	for batch := 0; ; batch++ {
		if batch == sfMaxBatches {
			return fmt.Errorf("query: more than %d batches", sfMaxBatches)
		}
		req, err := s.c.newRequest(ctx, http.MethodGet, path, nil, "")
		if err != nil {
			return err
		}
		var page sfQueryResult[T]
		if err := s.send(req, &page); err != nil {
			return err
		}
		for _, r := range page.Records {
			if !each(r) {
				return nil
			}
		}
		if page.Done || page.NextRecordsURL == "" {
			return nil
		}
		if !strings.HasPrefix(page.NextRecordsURL, "/services/data/") {
			return fmt.Errorf("query: unexpected nextRecordsUrl %q", page.NextRecordsURL)
		}
		path = page.NextRecordsURL
	}
}

// sfMaxBatches bounds the batches one query reads (2,000 records each at
// most: far more comments than one case holds).
const sfMaxBatches = 500

// sfTimeLayout is how Salesforce writes datetimes.
const sfTimeLayout = "2006-01-02T15:04:05.000-0700"

// FindByPhone queries the Contact whose Phone or MobilePhone is exactly
// e164, then its open Cases, newest first. Salesforce matches phone
// fields as stored, so contacts must be stored in E.164.
func (s *Salesforce) FindByPhone(ctx context.Context, e164 string) (Lookup, error) {
	type sfContact struct {
		ID    string `json:"Id"`
		Name  string
		Email string
		Phone string
	}
	var ct *sfContact
	q := "SELECT Id, Name, Email, Phone FROM Contact WHERE Phone = " + soqlQuote(e164) +
		" OR MobilePhone = " + soqlQuote(e164) + " LIMIT 1"
	if err := sfQuery(ctx, s, q, func(r sfContact) bool { ct = &r; return false }); err != nil {
		return Lookup{}, fmt.Errorf("crm: find contact: %w", err)
	}
	if ct == nil {
		return Lookup{}, nil
	}
	base, _ := s.c.base()
	out := Lookup{
		Contact: &Contact{ID: ct.ID, Name: ct.Name, Email: ct.Email, Phone: ct.Phone, URL: base + "/lightning/r/Contact/" + ct.ID + "/view"},
		Records: []Record{},
	}
	type sfCase struct {
		ID               string `json:"Id"`
		Subject          string
		Status           string
		LastModifiedDate string
	}
	q = "SELECT Id, Subject, Status, LastModifiedDate FROM Case WHERE ContactId = " + soqlQuote(ct.ID) +
		" AND IsClosed = false ORDER BY LastModifiedDate DESC LIMIT 50"
	err := sfQuery(ctx, s, q, func(c sfCase) bool {
		r := Record{ID: c.ID, Subject: c.Subject, Status: c.Status, URL: base + "/lightning/r/Case/" + c.ID + "/view"}
		if t, err := time.Parse(sfTimeLayout, c.LastModifiedDate); err == nil {
			r.UpdatedAt = t
		}
		out.Records = append(out.Records, r)
		return true
	})
	if err != nil {
		return Lookup{}, fmt.Errorf("crm: list cases: %w", err)
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
	if err := s.send(req, &answer); err != nil {
		return "", fmt.Errorf("crm: create case: %w", err)
	}
	if answer.ID == "" {
		return "", errors.New("crm: create case: the answer has no id")
	}
	return answer.ID, nil
}
