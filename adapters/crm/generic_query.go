package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// FindByPhone gets LookupURL and, when a contact is found and its object
// has no "records" array, RecordsURL. A 404 or an empty list is a Lookup
// with a nil Contact; a 404 on RecordsURL is a contact without records.
//
// Answers are read as one string and queried in place (gjson): each
// object is scanned once for the members the field mapping names, and
// only the contact's and its records' mapped fields are turned into
// values, never the whole document (this is the screen pop's hot path).
func (g *Generic) FindByPhone(ctx context.Context, e164 string) (Lookup, error) {
	answer, err := g.getJSON(ctx, expand(g.lookup, map[string]string{"phone": e164}))
	if err != nil {
		if hasStatus(err, http.StatusNotFound) {
			return Lookup{}, nil
		}
		return Lookup{}, fmt.Errorf("crm: find by phone: %w", err)
	}
	var buf [maxPicked]gjson.Result
	obj, ok := g.firstContact(answer, buf[:])
	if !ok {
		return Lookup{}, nil
	}
	ct := g.toContact(obj)
	out := Lookup{Contact: &ct, Records: []Record{}}
	recs := obj.list(listRecords)
	if !recs.IsArray() && g.records != "" {
		answer, err := g.getJSON(ctx, expand(g.records, map[string]string{"contact_id": ct.ID, "phone": e164}))
		switch {
		case hasStatus(err, http.StatusNotFound):
		case err != nil:
			return Lookup{}, fmt.Errorf("crm: list records: %w", err)
		default:
			recs = list(answer)
		}
	}
	recs.ForEach(func(_, r gjson.Result) bool {
		if r.IsObject() {
			if rec := g.toRecord(g.recordQ.pick(r, buf[:])); rec.ID != "" {
				if cap(out.Records) == 0 {
					// A contact's open records are a few: grow once, not at 1, 2, 4.
					out.Records = make([]Record, 0, 4)
				}
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
	var s rawAnswer
	if _, err := g.c.do(req, &s); err != nil {
		return gjson.Result{}, err
	}
	if len(strings.TrimSpace(string(s))) == 0 {
		return gjson.Result{}, nil
	}
	if !gjson.Valid(string(s)) {
		// Not one JSON value alone: decode it as a json.Decoder would
		// (its error, or the first value without what trails it).
		var v any
		dec := json.NewDecoder(strings.NewReader(string(s)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return gjson.Result{}, fmt.Errorf("decode answer: %w", err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return gjson.Result{}, fmt.Errorf("decode answer: %w", err)
		}
		return gjson.ParseBytes(b), nil
	}
	return gjson.Parse(string(s)), nil
}

// query is a field mapping in the form an answer is read with: paths[i]
// is the JSON path of field i, and names are the members one scan of an
// object picks: the first step of each path, then the list names.
type query struct {
	paths [][]string
	names []string
}

// The fields of a contact query (contactFields, then the extra fields)
// and of a record query (recordFields), by index.
const (
	fieldID = 0

	contactName, contactEmail, contactPhone, contactURL = 1, 2, 3, 4

	recordSubject, recordStatus, recordURL, recordUpdatedAt = 1, 2, 3, 4
)

// Lists a contact query also picks, in this order after the fields: the
// embedded records, and the two shapes of a list of contacts.
var contactLists = []string{"records", "contacts", "list"}

const (
	listRecords  = 0
	listContacts = 1
	listList     = 2
)

// maxPicked is the number of members a query picks without allocating.
const maxPicked = 10

// newQuery returns the query reading fields (in this order) through
// paths, which maps each of them to its JSON path, and picking lists.
func newQuery(paths map[string][]string, fields []string, lists ...string) query {
	q := query{}
	for _, f := range fields {
		q.paths = append(q.paths, paths[f])
		q.names = append(q.names, paths[f][0])
	}
	q.names = append(q.names, lists...)
	return q
}

// picked is one object's members as a query picked them; a missing
// member is a Result that does not Exist.
type picked struct {
	q    *query
	vals []gjson.Result
}

// pick scans r, an object, once for q's names and keeps the last of
// duplicate names, as encoding/json decodes them. It uses buf when it is
// long enough: the answer is valid until buf is used again.
func (q *query) pick(r gjson.Result, buf []gjson.Result) picked {
	vals := buf
	if len(vals) < len(q.names) {
		vals = make([]gjson.Result, len(q.names))
	}
	vals = vals[:len(q.names)]
	members(r, q.names, vals)
	return picked{q: q, vals: vals}
}

// members sets vals[i] to the last member of r named names[i], or to a
// zero Result when there is none.
func members(r gjson.Result, names []string, vals []gjson.Result) {
	clear(vals)
	r.ForEach(func(k, v gjson.Result) bool {
		for i, n := range names {
			if k.Str == n {
				vals[i] = v
			}
		}
		return true
	})
}

// value follows field i's path: the Result does not Exist when a step is
// missing or not an object.
func (p picked) value(i int) gjson.Result {
	v := p.vals[i]
	for _, step := range p.q.paths[i][1:] {
		if !v.IsObject() {
			return gjson.Result{}
		}
		var one [1]gjson.Result
		members(v, []string{step}, one[:])
		v = one[0]
	}
	return v
}

// list is the j-th list name's member.
func (p picked) list(j int) gjson.Result { return p.vals[len(p.q.paths)+j] }

// list returns the items of a records answer that is an array,
// {"records":[...]}, or {"list":[...]} (EspoCRM), or a null Result.
func list(answer gjson.Result) gjson.Result {
	switch {
	case answer.IsArray():
		return answer
	case answer.IsObject():
		var l [2]gjson.Result
		members(answer, []string{"records", "list"}, l[:])
		if l[0].IsArray() {
			return l[0]
		}
		if l[1].IsArray() {
			return l[1]
		}
	}
	return gjson.Result{}
}

// firstContact finds the first object with an id in a lookup answer: an
// array, {"contacts":[...]}, {"list":[...]} or the contact object itself.
// It picks the contact's members into buf.
func (g *Generic) firstContact(answer gjson.Result, buf []gjson.Result) (picked, bool) {
	if answer.IsObject() {
		o := g.contactQ.pick(answer, buf)
		items := o.list(listContacts)
		if !items.IsArray() {
			items = o.list(listList)
		}
		if !items.IsArray() {
			if o.list(listContacts).Exists() {
				return picked{}, false
			}
			// The contact object itself.
			return o, jsonID(o.value(fieldID)) != ""
		}
		answer = items
	}
	var found picked
	ok := false
	answer.ForEach(func(_, it gjson.Result) bool {
		if it.IsObject() {
			if o := g.contactQ.pick(it, buf); jsonID(o.value(fieldID)) != "" {
				found, ok = o, true
				return false
			}
		}
		return true
	})
	return found, ok
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

func (g *Generic) toContact(m picked) Contact {
	ct := Contact{
		ID:    jsonID(m.value(fieldID)),
		Name:  str(m.value(contactName)),
		Email: str(m.value(contactEmail)),
		Phone: str(m.value(contactPhone)),
		URL:   str(m.value(contactURL)),
	}
	for i, k := range g.extra {
		if v := value(m.value(len(contactFields) + i)); v != nil {
			if ct.Fields == nil {
				ct.Fields = map[string]any{}
			}
			ct.Fields[k] = v
		}
	}
	return ct
}

func (g *Generic) toRecord(m picked) Record {
	r := Record{
		ID:      jsonID(m.value(fieldID)),
		Subject: str(m.value(recordSubject)),
		Status:  str(m.value(recordStatus)),
		URL:     str(m.value(recordURL)),
	}
	if t, err := time.Parse(time.RFC3339, str(m.value(recordUpdatedAt))); err == nil {
		r.UpdatedAt = t
	}
	return r
}
