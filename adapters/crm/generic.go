package crm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// Generic is a custom REST CRM described by config.GenericCRM; the wire
// shapes it speaks are in the package documentation. It is safe for
// concurrent use.
type Generic struct {
	c                                        conn
	lookup, records, create, comment, attach string
	// contact and record map holdline's field names to JSON paths.
	contact, record map[string][]string
	// extra are the Fields keys that go to Contact.Fields.
	extra []string
}

var _ Client = (*Generic)(nil)

// Holdline's own field names, mapped by config.GenericCRM.Fields.
var (
	contactFields = []string{"id", "name", "email", "phone", "url"}
	recordFields  = []string{"id", "subject", "status", "url", "updated_at"}
)

var placeholder = regexp.MustCompile(`\{[^}]*\}`)

// NewGeneric returns the generic adapter. It checks the URL templates (a
// path from the endpoint; only the placeholders each one can use) and the
// field mapping, and reports every problem at once, each naming its config
// path.
func NewGeneric(cfg config.CRM, hc *http.Client, endpoint func() string) (*Generic, error) {
	cn, err := newConn(cfg, hc, endpoint)
	errs := []error{err}
	g := cfg.Generic
	check := func(key, tmpl string, required bool, allowed ...string) {
		path := "dependencies.crm.generic." + key
		if tmpl == "" {
			if required {
				errs = append(errs, fmt.Errorf("%s: must be set", path))
			}
			return
		}
		if !strings.HasPrefix(tmpl, "/") {
			errs = append(errs, fmt.Errorf("%s: %q must be a path starting with /", path, tmpl))
		}
		for _, p := range placeholder.FindAllString(tmpl, -1) {
			if !slices.Contains(allowed, p) {
				errs = append(errs, fmt.Errorf("%s: placeholder %s is not one of %s", path, p, strings.Join(allowed, ", ")))
			}
		}
		if len(allowed) > 0 && !strings.Contains(tmpl, allowed[0]) {
			errs = append(errs, fmt.Errorf("%s: must contain %s", path, allowed[0]))
		}
	}
	check("lookup_url", g.LookupURL, true, "{phone}")
	check("records_url", g.RecordsURL, false, "{contact_id}", "{phone}")
	check("create_record_url", g.CreateRecordURL, true)
	check("comment_url", g.CommentURL, true, "{record_id}")
	check("attach_url", g.AttachURL, true, "{record_id}")

	a := &Generic{c: cn, lookup: g.LookupURL, records: g.RecordsURL, create: g.CreateRecordURL,
		comment: g.CommentURL, attach: g.AttachURL, contact: map[string][]string{}, record: map[string][]string{}}
	for _, f := range contactFields {
		a.contact[f] = []string{f}
	}
	for _, f := range recordFields {
		a.record[f] = []string{f}
	}
	for _, k := range slices.Sorted(maps.Keys(g.Fields)) {
		v := g.Fields[k]
		path := strings.Split(v, ".")
		if v == "" || slices.Contains(path, "") {
			errs = append(errs, fmt.Errorf("dependencies.crm.generic.fields.%s: %q is not a JSON field path such as attributes.name", k, v))
			continue
		}
		switch name, isRecord := strings.CutPrefix(k, "record."); {
		case isRecord && slices.Contains(recordFields, name):
			a.record[name] = path
		case isRecord:
			errs = append(errs, fmt.Errorf("dependencies.crm.generic.fields.%s: record fields are %s", k, strings.Join(recordFields, ", ")))
		case slices.Contains(contactFields, k):
			a.contact[k] = path
		default:
			a.contact[k] = path
			a.extra = append(a.extra, k)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// expand fills a URL template: values are path-escaped before the query
// and query-escaped in it, so "+14155550100" stays a plus sign.
func expand(tmpl string, vars map[string]string) string {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	fill := func(s string, esc func(string) string) string {
		return placeholder.ReplaceAllStringFunc(s, func(p string) string { return esc(vars[p[1:len(p)-1]]) })
	}
	out := fill(path, url.PathEscape)
	if hasQuery {
		out += "?" + fill(query, url.QueryEscape)
	}
	return out
}

// FindByPhone gets LookupURL and, when a contact is found and its object
// has no "records" array, RecordsURL. A 404 or an empty list is a Lookup
// with a nil Contact; a 404 on RecordsURL is a contact without records.
func (g *Generic) FindByPhone(ctx context.Context, e164 string) (Lookup, error) {
	var answer any
	if err := g.get(ctx, expand(g.lookup, map[string]string{"phone": e164}), &answer); err != nil {
		if hasStatus(err, http.StatusNotFound) {
			return Lookup{}, nil
		}
		return Lookup{}, fmt.Errorf("crm: find by phone: %w", err)
	}
	obj := g.firstContact(answer)
	if obj == nil {
		return Lookup{}, nil
	}
	ct := g.toContact(obj)
	out := Lookup{Contact: &ct, Records: []Record{}}
	recs, embedded := obj["records"].([]any)
	if !embedded && g.records != "" {
		var answer any
		err := g.get(ctx, expand(g.records, map[string]string{"contact_id": ct.ID, "phone": e164}), &answer)
		switch {
		case hasStatus(err, http.StatusNotFound):
		case err != nil:
			return Lookup{}, fmt.Errorf("crm: list records: %w", err)
		default:
			recs = list(answer, "records")
		}
	}
	for _, r := range recs {
		if m, ok := r.(map[string]any); ok {
			if rec := g.toRecord(m); rec.ID != "" {
				out.Records = append(out.Records, rec)
			}
		}
	}
	return out, nil
}

func (g *Generic) get(ctx context.Context, path string, out any) error {
	req, err := g.c.newRequest(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	_, err = g.c.do(req, out)
	return err
}

// list returns the items of an answer that is an array, {key:[...]}, or
// {"list":[...]} (EspoCRM).
func list(answer any, key string) []any {
	switch v := answer.(type) {
	case []any:
		return v
	case map[string]any:
		if l, ok := v[key].([]any); ok {
			return l
		}
		if l, ok := v["list"].([]any); ok {
			return l
		}
	}
	return nil
}

// firstContact finds the first object with an id in a lookup answer: an
// array, {"contacts":[...]}, {"list":[...]} or the contact object itself.
func (g *Generic) firstContact(answer any) map[string]any {
	items := list(answer, "contacts")
	if m, ok := answer.(map[string]any); ok && items == nil {
		if _, isList := m["contacts"]; !isList {
			items = []any{m}
		}
	}
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && idString(dig(m, g.contact["id"])) != "" {
			return m
		}
	}
	return nil
}

// dig follows a dotted path through nested objects.
func dig(m map[string]any, path []string) any {
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[p]
	}
	return v
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return idString(v)
}

func (g *Generic) toContact(m map[string]any) Contact {
	ct := Contact{
		ID:    idString(dig(m, g.contact["id"])),
		Name:  str(dig(m, g.contact["name"])),
		Email: str(dig(m, g.contact["email"])),
		Phone: str(dig(m, g.contact["phone"])),
		URL:   str(dig(m, g.contact["url"])),
	}
	for _, k := range g.extra {
		if v := dig(m, g.contact[k]); v != nil {
			if ct.Fields == nil {
				ct.Fields = map[string]any{}
			}
			ct.Fields[k] = v
		}
	}
	return ct
}

func (g *Generic) toRecord(m map[string]any) Record {
	r := Record{
		ID:      idString(dig(m, g.record["id"])),
		Subject: str(dig(m, g.record["subject"])),
		Status:  str(dig(m, g.record["status"])),
		URL:     str(dig(m, g.record["url"])),
	}
	if t, err := time.Parse(time.RFC3339, str(dig(m, g.record["updated_at"]))); err == nil {
		r.UpdatedAt = t
	}
	return r
}

// CreateRecord posts the NewRecord as JSON to CreateRecordURL with an
// Idempotency-Key header and returns the answer's id (field mapped by
// record.id). The CRM must honour the key.
func (g *Generic) CreateRecord(ctx context.Context, in NewRecord, idemKey string) (string, error) {
	req, err := g.c.jsonRequest(ctx, http.MethodPost, expand(g.create, map[string]string{"contact_id": in.ContactID, "phone": in.Phone}), in, idemKey)
	if err != nil {
		return "", fmt.Errorf("crm: create record: %w", err)
	}
	id, err := g.write(req, false)
	if err != nil {
		return "", fmt.Errorf("crm: create record: %w", err)
	}
	if id == "" {
		return "", errors.New("crm: create record: the answer has no id")
	}
	return id, nil
}

// AddComment posts {"body","author"} to CommentURL with an
// Idempotency-Key header. A 404 is ErrNotFound.
func (g *Generic) AddComment(ctx context.Context, recordID string, c Comment, idemKey string) (string, error) {
	req, err := g.c.jsonRequest(ctx, http.MethodPost, expand(g.comment, map[string]string{"record_id": recordID}), c, idemKey)
	if err != nil {
		return "", fmt.Errorf("crm: add comment: %w", err)
	}
	id, err := g.write(req, true)
	if err != nil {
		return "", fmt.Errorf("crm: add comment: %w", err)
	}
	return id, nil
}

// AttachFile posts the part's raw bytes to AttachURL (see the package
// documentation for the headers), or an empty body with Holdline-Link for
// a link. It reads a.Body but does not close it. A 404 is ErrNotFound.
func (g *Generic) AttachFile(ctx context.Context, recordID string, a Attachment, idemKey string) (string, error) {
	var body io.Reader = http.NoBody
	if a.Link == "" && a.Body != nil {
		body = io.NopCloser(a.Body)
	}
	req, err := g.c.newRequest(ctx, http.MethodPost, expand(g.attach, map[string]string{"record_id": recordID}), body, idemKey)
	if err != nil {
		return "", fmt.Errorf("crm: attach file: %w", err)
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	req.Header.Set("Content-Type", ct)
	if a.Name != "" {
		req.Header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	}
	if a.Parts > 0 {
		req.Header.Set("Holdline-Part", strconv.Itoa(a.Part))
		req.Header.Set("Holdline-Parts", strconv.Itoa(a.Parts))
	}
	switch {
	case a.Link != "":
		req.Header.Set("Holdline-Link", a.Link)
		req.ContentLength = 0
	case a.Size > 0 && a.Body != nil:
		req.ContentLength = a.Size
	}
	id, err := g.write(req, true)
	if err != nil {
		return "", fmt.Errorf("crm: attach file: %w", err)
	}
	return id, nil
}

// write sends a write and returns the answer's id. For a write naming a
// record, 404 is ErrNotFound.
func (g *Generic) write(req *http.Request, namesRecord bool) (string, error) {
	var answer map[string]any
	if _, err := g.c.do(req, &answer); err != nil {
		if namesRecord && hasStatus(err, http.StatusNotFound) {
			return "", notFound(err)
		}
		return "", err
	}
	return idString(dig(answer, g.record["id"])), nil
}
