package sim

import (
	"crypto/subtle"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CRMOptions tune NewCRM. The zero value is a seeded CRM with no faults,
// no latency and no authentication.
type CRMOptions struct {
	// Empty starts the ledger with no contacts or records instead of the
	// seeded ones (see NewCRM).
	Empty bool
	// Token, when set, is required on every dialect route as a bearer
	// token, a basic-auth password or an X-Api-Key header; other requests
	// get 401. The /dev/crm/ routes never require it.
	Token string
	// OAuth, when set, makes the simulator issue access tokens at
	// CRMOAuthPath and require a live one on every dialect route (Token
	// is then ignored); see CRMOAuth and CRM.ExpireTokens.
	OAuth *CRMOAuth
	// Mode is the initial fault mode. The zero value is CRMModeOK.
	Mode CRMMode
	// Now is the clock for timestamps, sessions and rate-limit windows.
	// Default time.Now.
	Now func() time.Time

	// ZendeskPerMinute, when positive, is the Zendesk dialect's request
	// limit per clock minute; past it, requests get 429 with Retry-After
	// (seconds to the next minute), as Zendesk's API introduction ("Rate
	// limits") documents.
	ZendeskPerMinute int
	// Salesforce tunes the Salesforce dialect's documented limits.
	Salesforce SalesforceOptions
}

// CRMContact is a contact in the simulator's ledger.
type CRMContact struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Mobile string `json:"mobile,omitempty"`
}

// CRMRecord is a record (case, ticket) in the ledger with everything
// written to it, in arrival order.
type CRMRecord struct {
	ID            string `json:"record_id"`
	InteractionID string `json:"interaction_id"`
	ContactID     string `json:"contact_id"`
	Subject       string `json:"subject"`
	Description   string `json:"description,omitempty"`
	// Status is open or closed.
	Status string `json:"status"`
	// Dialect is the API that created the record: generic, salesforce,
	// zendesk, or seed.
	Dialect        string          `json:"dialect"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	Comments       []CRMComment    `json:"comments"`
	Attachments    []CRMAttachment `json:"attachments"`

	// externalID is Zendesk's ticket external_id.
	externalID string
}

// CRMComment is a comment on a record. Body is stored exactly as the
// client sent it (a Salesforce comment keeps holdline's marker line).
type CRMComment struct {
	ID             string    `json:"id"`
	Body           string    `json:"body"`
	Author         string    `json:"author,omitempty"`
	Dialect        string    `json:"dialect"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// CRMAttachment is one attached part of a file, or a link.
type CRMAttachment struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	ContentType    string    `json:"content_type,omitempty"`
	Part           int       `json:"part"`
	Parts          int       `json:"parts"`
	Size           int64     `json:"size"`
	SHA256         string    `json:"sha256,omitempty"`
	Link           string    `json:"link,omitempty"`
	Dialect        string    `json:"dialect"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// CRM simulates a CRM in three dialects over one in-memory ledger. It is
// safe for concurrent use. Build it with NewCRM.
type CRM struct {
	opts CRMOptions
	now  func() time.Time

	faults faults

	mu       sync.Mutex
	contacts []*CRMContact
	records  []*CRMRecord
	byID     map[string]*CRMRecord
	// idem maps scope+"\x00"+key to the id the first write returned.
	idem    map[string]string
	uploads map[string]*upload
	zd      zdState
	sf      sfState
	oauth   oauthState
	seq     map[string]int
	hits    map[string]int64
}

// upload is a Zendesk upload waiting for a comment to reference its token.
type upload struct {
	attachmentID string
	name         string
	contentType  string
	size         int64
	sha256       string
}

// NewCRM returns a simulator. Unless opts.Empty is set its ledger holds:
//
//   - 101 Ada Lovelace, ada@example.com, +14155550100, with open record
//     1001 "Billing question" and closed record 1002 "Password reset";
//   - 102 Grace Hopper, grace@example.com, +14155550101 (mobile
//     +14155550199), with no records;
//   - 103 Alan Turing, alan@example.com, +442079460000, with open record
//     1003 "Delivery delayed".
//
// New contacts get ids from 104, records from 1004, comments from 5001 and
// attachments from 7001, so a fresh simulator hands out the same ids in
// the same order every run.
func NewCRM(opts CRMOptions) *CRM {
	c := &CRM{
		opts:    opts,
		now:     opts.Now,
		byID:    map[string]*CRMRecord{},
		idem:    map[string]string{},
		uploads: map[string]*upload{},
		zd:      zdState{audits: map[string][]zdAudit{}},
		sf:      sfState{sessions: map[string]time.Time{}, cursors: map[string][]map[string]any{}},
		oauth:   oauthState{tokens: map[string]time.Time{}},
		seq: map[string]int{"contact": 100, "record": 1000, "comment": 5000, "attachment": 7000,
			"upload": 0, "audit": 20000, "event": 30000, "cursor": 0},
		hits: map[string]int64{},
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.faults.set(opts.Mode)
	if !opts.Empty {
		c.seed()
	}
	return c
}

func (c *CRM) seed() {
	t := c.now().UTC().Add(-24 * time.Hour).Truncate(time.Second)
	ada := c.AddContact(CRMContact{Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+14155550100"})
	c.AddContact(CRMContact{Name: "Grace Hopper", Email: "grace@example.com", Phone: "+14155550101", Mobile: "+14155550199"})
	alan := c.AddContact(CRMContact{Name: "Alan Turing", Email: "alan@example.com", Phone: "+442079460000"})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range []CRMRecord{
		{ContactID: ada.ID, Subject: "Billing question", Status: "open"},
		{ContactID: ada.ID, Subject: "Password reset", Status: "closed"},
		{ContactID: alan.ID, Subject: "Delivery delayed", Status: "open"},
	} {
		r.Dialect, r.CreatedAt, r.UpdatedAt = "seed", t, t
		c.insertRecordLocked(r)
	}
}

// AddContact adds a contact to the ledger and returns it with its id
// (set when c.ID is empty).
func (c *CRM) AddContact(ct CRMContact) CRMContact {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct.ID == "" {
		ct.ID = c.nextLocked("contact")
	}
	c.contacts = append(c.contacts, &ct)
	return ct
}

// Contacts returns a copy of the ledger's contacts in insertion order.
func (c *CRM) Contacts() []CRMContact {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CRMContact, len(c.contacts))
	for i, ct := range c.contacts {
		out[i] = *ct
	}
	return out
}

// Records returns a deep copy of the ledger's records in creation order,
// each with its comments and attachments in arrival order.
func (c *CRM) Records() []CRMRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CRMRecord, len(c.records))
	for i, r := range c.records {
		out[i] = *r
		out[i].Comments = slices.Clone(r.Comments)
		out[i].Attachments = slices.Clone(r.Attachments)
	}
	return out
}

// Record returns a copy of the record with the given id.
func (c *CRM) Record(id string) (CRMRecord, bool) {
	for _, r := range c.Records() {
		if r.ID == id {
			return r, true
		}
	}
	return CRMRecord{}, false
}

// Hits returns how many requests each route kind has received, keyed
// "dialect.operation" (for example "generic.lookup",
// "salesforce.query", "zendesk.upload"). Requests that a fault failed
// count too; /dev/crm/ routes do not.
func (c *CRM) Hits() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.hits)
}

// Handler serves the generic, Salesforce and Zendesk dialects plus the
// /dev/crm/ routes. Faults (SetMode) apply to the dialect routes.
func (c *CRM) Handler() http.Handler {
	mux := http.NewServeMux()
	c.genericRoutes(mux)
	c.salesforceRoutes(mux)
	c.zendeskRoutes(mux)
	top := http.NewServeMux()
	top.Handle("/dev/crm/", c.DevHandler())
	if c.opts.OAuth != nil {
		top.Handle("POST "+CRMOAuthPath, c.route("oauth.token", false, c.serveToken))
		top.Handle("/", c.oauthAuthenticate(mux))
		return top
	}
	top.Handle("/", c.authenticate(mux))
	return top
}

// route wraps a dialect handler so that it counts its hits under name and
// tells the fault middleware whether it writes.
func (c *CRM) route(name string, write bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits[name]++
		c.mu.Unlock()
		if !c.faults.apply(w, r, name, write) {
			return
		}
		if c.faults.losesAnswer(name, write) {
			h(&discard{}, r)
			reset(w)
			return
		}
		h(w, r)
	})
}

func (c *CRM) authenticate(next http.Handler) http.Handler {
	if c.opts.Token == "" {
		return next
	}
	want := []byte(c.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got string
		if _, pw, ok := r.BasicAuth(); ok {
			got = pw
		} else if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = t
		} else {
			got = r.Header.Get("X-Api-Key")
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sim"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// nextLocked returns the next id of a kind. c.mu must be held.
func (c *CRM) nextLocked(kind string) string {
	c.seq[kind]++
	return strconv.Itoa(c.seq[kind])
}

func (c *CRM) insertRecordLocked(r CRMRecord) *CRMRecord {
	r.ID = c.nextLocked("record")
	if r.Status == "" {
		r.Status = "open"
	}
	r.Comments, r.Attachments = []CRMComment{}, []CRMAttachment{}
	p := &r
	c.records = append(c.records, p)
	c.byID[p.ID] = p
	return p
}

// contactByPhone finds a contact whose phone or mobile is e164.
func (c *CRM) contactByPhone(e164 string) (CRMContact, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ct := range c.contacts {
		if e164 != "" && (ct.Phone == e164 || ct.Mobile == e164) {
			return *ct, true
		}
	}
	return CRMContact{}, false
}

func (c *CRM) contactByID(id string) (CRMContact, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ct := range c.contacts {
		if ct.ID == id {
			return *ct, true
		}
	}
	return CRMContact{}, false
}

// recordsOf returns copies of a contact's records, open ones only when
// openOnly is set.
func (c *CRM) recordsOf(contactID string, openOnly bool) []CRMRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []CRMRecord
	for _, r := range c.records {
		if r.ContactID == contactID && (!openOnly || r.Status != "closed") {
			out = append(out, *r)
		}
	}
	return out
}

// Idempotency scopes: a key names one write of one kind.
const (
	scopeRecord     = "record"
	scopeComment    = "comment"
	scopeAttachment = "attachment"
)

// createRecord adds r unless key (when not empty) already created a
// record, in which case it returns that record's id and created=false.
func (c *CRM) createRecord(r CRMRecord, key string) (id string, created bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.idemLocked(scopeRecord, key); ok {
		return id, false
	}
	now := c.now().UTC()
	r.CreatedAt, r.UpdatedAt, r.IdempotencyKey = now, now, key
	p := c.insertRecordLocked(r)
	c.rememberLocked(scopeRecord, key, p.ID)
	return p.ID, true
}

// upsertRecord creates r under key, or updates the subject and
// description of the record key already created (Salesforce upsert).
func (c *CRM) upsertRecord(r CRMRecord, key string) (id string, created bool) {
	c.mu.Lock()
	if id, ok := c.idemLocked(scopeRecord, key); ok {
		if p := c.byID[id]; p != nil {
			p.Subject, p.Description, p.UpdatedAt = r.Subject, r.Description, c.now().UTC()
		}
		c.mu.Unlock()
		return id, false
	}
	c.mu.Unlock()
	return c.createRecord(r, key)
}

// recordIDByKey returns the id of the record created under key.
func (c *CRM) recordIDByKey(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idemLocked(scopeRecord, key)
}

func (c *CRM) recordExists(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id] != nil
}

// addComment appends cm to a record. ok is false when the record does not
// exist. With dedupe, a repeated non-empty cm.IdempotencyKey returns the
// first comment's id; without, the key is only recorded.
func (c *CRM) addComment(recordID string, cm CRMComment, dedupe bool) (id string, created, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[recordID]
	if p == nil {
		return "", false, false
	}
	if id, dup := c.idemLocked(scopeComment, cm.IdempotencyKey); dup && dedupe {
		return id, false, true
	}
	cm.ID = c.nextLocked("comment")
	cm.CreatedAt = c.now().UTC()
	p.Comments = append(p.Comments, cm)
	p.UpdatedAt = cm.CreatedAt
	if dedupe {
		c.rememberLocked(scopeComment, cm.IdempotencyKey, cm.ID)
	}
	return cm.ID, true, true
}

// addAttachment appends a to a record, like addComment. a.ID is kept when
// set (a Zendesk upload already has its attachment id).
func (c *CRM) addAttachment(recordID string, a CRMAttachment, dedupe bool) (id string, created, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[recordID]
	if p == nil {
		return "", false, false
	}
	if id, dup := c.idemLocked(scopeAttachment, a.IdempotencyKey); dup && dedupe {
		return id, false, true
	}
	if a.ID == "" {
		a.ID = c.nextLocked("attachment")
	}
	a.CreatedAt = c.now().UTC()
	p.Attachments = append(p.Attachments, a)
	p.UpdatedAt = a.CreatedAt
	if dedupe {
		c.rememberLocked(scopeAttachment, a.IdempotencyKey, a.ID)
	}
	return a.ID, true, true
}

func (c *CRM) idemLocked(scope, key string) (string, bool) {
	if key == "" {
		return "", false
	}
	id, ok := c.idem[scope+"\x00"+key]
	return id, ok
}

func (c *CRM) rememberLocked(scope, key, id string) {
	if key != "" {
		c.idem[scope+"\x00"+key] = id
	}
}

// idemKey reads the Idempotency-Key request header.
func idemKey(r *http.Request) string { return r.Header.Get("Idempotency-Key") }
