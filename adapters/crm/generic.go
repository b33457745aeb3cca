package crm

import (
	"context"
	"encoding/json"
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

	"github.com/tidwall/gjson"

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
	// contactQ and recordQ are contact and record in the form the hot
	// path reads an answer with (generic_query.go).
	contactQ, recordQ query
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
	a.contactQ = newQuery(a.contact, append(slices.Clip(contactFields), a.extra...), contactLists...)
	a.recordQ = newQuery(a.record, recordFields)
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
	// Writes are not the hot path: the answer is decoded whole, and its
	// id found through the same field mapping as a lookup's.
	b, err := json.Marshal(answer)
	if err != nil {
		return "", fmt.Errorf("decode answer: %w", err)
	}
	var vals [maxPicked]gjson.Result
	return jsonID(g.recordQ.pick(gjson.ParseBytes(b), vals[:]).value(fieldID)), nil
}
