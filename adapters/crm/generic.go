package crm

import (
	"bytes"
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
	"time"

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
//
// Answers are read as bytes and queried in place (gjson): only the
// contact's and its records' mapped fields are turned into values, never
// the whole document (this is the screen pop's hot path).
func (g *Generic) FindByPhone(ctx context.Context, e164 string) (Lookup, error) {
	answer, err := g.getJSON(ctx, expand(g.lookup, map[string]string{"phone": e164}))
	if err != nil {
		if hasStatus(err, http.StatusNotFound) {
			return Lookup{}, nil
		}
		return Lookup{}, fmt.Errorf("crm: find by phone: %w", err)
	}
	obj, ok := g.firstContact(answer)
	if !ok {
		return Lookup{}, nil
	}
	ct := g.toContact(obj)
	out := Lookup{Contact: &ct, Records: []Record{}}
	recs := obj["records"]
	if !recs.IsArray() && g.records != "" {
		answer, err := g.getJSON(ctx, expand(g.records, map[string]string{"contact_id": ct.ID, "phone": e164}))
		switch {
		case hasStatus(err, http.StatusNotFound):
		case err != nil:
			return Lookup{}, fmt.Errorf("crm: list records: %w", err)
		default:
			recs = list(answer, "records")
		}
	}
	recs.ForEach(func(_, r gjson.Result) bool {
		if r.IsObject() {
			if rec := g.toRecord(fields(r)); rec.ID != "" {
				out.Records = append(out.Records, rec)
			}
		}
		return true
	})
	return out, nil
}

// getJSON gets path and returns its JSON answer (a null Result for an
// empty body). Like a json.Decoder, it reads the first JSON value and
// ignores what follows it.
func (g *Generic) getJSON(ctx context.Context, path string) (gjson.Result, error) {
	req, err := g.c.newRequest(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return gjson.Result{}, err
	}
	var b rawAnswer
	if _, err := g.c.do(req, &b); err != nil {
		return gjson.Result{}, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return gjson.Result{}, nil
	}
	if !gjson.ValidBytes(b) {
		// Not one JSON value alone: decode it as a json.Decoder would
		// (its error, or the first value without what trails it).
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return gjson.Result{}, fmt.Errorf("decode answer: %w", err)
		}
		if b, err = json.Marshal(v); err != nil {
			return gjson.Result{}, fmt.Errorf("decode answer: %w", err)
		}
	}
	return gjson.ParseBytes(b), nil
}

// object is one JSON object's members by name (the last of duplicate
// names, as encoding/json decodes them).
type object map[string]gjson.Result

// fields returns the members of r, an object.
func fields(r gjson.Result) object {
	o := object{}
	r.ForEach(func(k, v gjson.Result) bool {
		o[k.String()] = v
		return true
	})
	return o
}

// list returns the items of an answer that is an array, {key:[...]}, or
// {"list":[...]} (EspoCRM), or a null Result.
func list(answer gjson.Result, key string) gjson.Result {
	switch {
	case answer.IsArray():
		return answer
	case answer.IsObject():
		o := fields(answer)
		if l := o[key]; l.IsArray() {
			return l
		}
		if l := o["list"]; l.IsArray() {
			return l
		}
	}
	return gjson.Result{}
}

// firstContact finds the first object with an id in a lookup answer: an
// array, {"contacts":[...]}, {"list":[...]} or the contact object itself.
func (g *Generic) firstContact(answer gjson.Result) (object, bool) {
	if answer.IsObject() {
		o := fields(answer)
		items := o["contacts"]
		if !items.IsArray() {
			items = o["list"]
		}
		if !items.IsArray() {
			if _, isList := o["contacts"]; isList {
				return nil, false
			}
			// The contact object itself.
			if jsonID(dig(o, g.contact["id"])) != "" {
				return o, true
			}
			return nil, false
		}
		answer = items
	}
	var found object
	answer.ForEach(func(_, it gjson.Result) bool {
		if it.IsObject() {
			if o := fields(it); jsonID(dig(o, g.contact["id"])) != "" {
				found = o
				return false
			}
		}
		return true
	})
	return found, found != nil
}

// dig follows a dotted path through nested objects; the Result does not
// Exist when a step is missing or not an object.
func dig(o object, path []string) gjson.Result {
	var v gjson.Result
	for i, p := range path {
		if i > 0 {
			if !v.IsObject() {
				return gjson.Result{}
			}
			o = fields(v)
		}
		v = o[p]
	}
	return v
}

// str is a JSON string's value, or jsonID of anything else.
func str(v gjson.Result) string {
	if v.Type == gjson.String {
		return v.Str
	}
	return jsonID(v)
}

// jsonID turns a JSON id (string or number) into a string as idString
// does: a number as it is written, null or a missing value as "".
func jsonID(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Number:
		return v.Raw
	case gjson.Null:
		return ""
	}
	return idString(value(v))
}

// value is v decoded as encoding/json does with UseNumber (numbers are
// json.Number), or nil when v is null or missing.
func value(v gjson.Result) any {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	var out any
	dec := json.NewDecoder(strings.NewReader(v.Raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil
	}
	return out
}

func (g *Generic) toContact(m object) Contact {
	ct := Contact{
		ID:    jsonID(dig(m, g.contact["id"])),
		Name:  str(dig(m, g.contact["name"])),
		Email: str(dig(m, g.contact["email"])),
		Phone: str(dig(m, g.contact["phone"])),
		URL:   str(dig(m, g.contact["url"])),
	}
	for _, k := range g.extra {
		if v := value(dig(m, g.contact[k])); v != nil {
			if ct.Fields == nil {
				ct.Fields = map[string]any{}
			}
			ct.Fields[k] = v
		}
	}
	return ct
}

func (g *Generic) toRecord(m object) Record {
	r := Record{
		ID:      jsonID(dig(m, g.record["id"])),
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
	// Writes are not the hot path: the answer is decoded whole, and its
	// id found through the same field mapping as a lookup's.
	b, err := json.Marshal(answer)
	if err != nil {
		return "", fmt.Errorf("decode answer: %w", err)
	}
	return jsonID(dig(fields(gjson.ParseBytes(b)), g.record["id"])), nil
}
