package sim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const zdPrefix = "/api/v2"

func (c *CRM) zendeskRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+zdPrefix+"/users/search.json", c.route("zendesk.user_search", false, c.zdLimited(c.zdUserSearch)))
	mux.Handle("GET "+zdPrefix+"/users/{id}/tickets/requested.json", c.route("zendesk.tickets_requested", false, c.zdLimited(c.zdRequested)))
	mux.Handle("GET "+zdPrefix+"/tickets.json", c.route("zendesk.tickets_by_external_id", false, c.zdLimited(c.zdTicketsByExternalID)))
	mux.Handle("POST "+zdPrefix+"/tickets.json", c.route("zendesk.create_ticket", true, c.zdLimited(c.zdCreateTicket)))
	mux.Handle("PUT "+zdPrefix+"/tickets/{idjson}", c.route("zendesk.update_ticket", true, c.zdLimited(c.zdUpdateTicket)))
	mux.Handle("GET "+zdPrefix+"/tickets/{id}/audits.json", c.route("zendesk.audits", false, c.zdLimited(c.zdAudits)))
	mux.Handle("POST "+zdPrefix+"/uploads.json", c.route("zendesk.upload", true, c.zdLimited(c.zdUpload)))
}

// zdState is the Zendesk-only part of the ledger, guarded by CRM.mu.
type zdState struct {
	// audits by ticket id, oldest first.
	audits map[string][]zdAudit
	// window and used count requests in the current rate-limit minute.
	window time.Time
	used   int
}

type zdAudit struct {
	ID        int64          `json:"id"`
	TicketID  int64          `json:"ticket_id"`
	CreatedAt string         `json:"created_at"`
	Metadata  map[string]any `json:"metadata"`
	Events    []zdEvent      `json:"events"`
}

type zdEvent struct {
	ID          int64          `json:"id"`
	Type        string         `json:"type"`
	Body        string         `json:"body"`
	Public      bool           `json:"public"`
	Attachments []zdAttachment `json:"attachments"`
}

type zdAttachment struct {
	ID          int64  `json:"id"`
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// zdLimited enforces CRMOptions.ZendeskPerMinute: past the minute's
// budget it answers 429 with Retry-After, the seconds left in the minute
// (Zendesk API introduction, "Rate limits").
func (c *CRM) zdLimited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if n := c.opts.ZendeskPerMinute; n > 0 {
			now := c.now()
			minute := now.Truncate(time.Minute)
			c.mu.Lock()
			if !c.zd.window.Equal(minute) {
				c.zd.window, c.zd.used = minute, 0
			}
			c.zd.used++
			over := c.zd.used > n
			c.mu.Unlock()
			if over {
				wait := minute.Add(time.Minute).Sub(now)
				w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
				zdFail(w, http.StatusTooManyRequests, "TooManyRequests", "Number of allowed API requests per minute exceeded")
				return
			}
		}
		h(w, r)
	}
}

func zdFail(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "description": desc})
}

func zdTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func num(id string) int64 { n, _ := strconv.ParseInt(id, 10, 64); return n }

func (c *CRM) zdTicket(r *http.Request, rec CRMRecord) map[string]any {
	t := map[string]any{
		"id": num(rec.ID), "url": "http://" + r.Host + zdPrefix + "/tickets/" + rec.ID + ".json",
		"subject": rec.Subject, "description": rec.Description, "status": rec.Status,
		"created_at": zdTime(rec.CreatedAt), "updated_at": zdTime(rec.UpdatedAt), "tags": []string{"holdline"},
		"requester_id": nil, "external_id": nil,
	}
	if rec.ContactID != "" {
		t["requester_id"] = num(rec.ContactID)
	}
	if rec.externalID != "" {
		t["external_id"] = rec.externalID
	}
	return t
}

// zdUserSearch answers users/search.json?query=phone:N with
// {"users":[...]}. It matches phone numbers as the caller-lookup guide
// ("Retrieving the Zendesk user id of a caller") documents: N is digits
// only, without a leading "+" or any other non-numeric character, and is
// compared with the digits of each user's phone; a leading "*" matches
// numbers that end with N, whatever their format. A query with a "+" or
// other non-digits finds nobody, as the guide says not to send one.
func (c *CRM) zdUserSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("query"))
	phone, _ := strings.CutPrefix(q, "phone:")
	suffix := strings.HasPrefix(phone, "*")
	phone = strings.TrimPrefix(phone, "*")
	users := []map[string]any{}
	if phone != "" && strings.Trim(phone, "0123456789") == "" {
		for _, ct := range c.Contacts() {
			if !zdPhoneMatch(ct, phone, suffix) {
				continue
			}
			users = append(users, map[string]any{"id": num(ct.ID), "url": "http://" + r.Host + zdPrefix + "/users/" + ct.ID + ".json",
				"name": ct.Name, "email": ct.Email, "phone": ct.Phone, "role": "end-user"})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "next_page": nil, "count": len(users)})
}

// zdPhoneMatch compares the digits of a contact's phone and mobile with
// the searched digits.
func zdPhoneMatch(ct CRMContact, digits string, suffix bool) bool {
	for _, p := range []string{ct.Phone, ct.Mobile} {
		d := onlyDigits(p)
		if d == "" {
			continue
		}
		if d == digits || suffix && strings.HasSuffix(d, digits) {
			return true
		}
	}
	return false
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// zdRequested answers users/{id}/tickets/requested.json with every ticket
// the user requested, open or not, newest first when sort_order=desc.
func (c *CRM) zdRequested(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := c.contactByID(id); !ok {
		zdFail(w, http.StatusNotFound, "RecordNotFound", "Not found")
		return
	}
	recs := c.recordsOf(id, false)
	if r.URL.Query().Get("sort_order") == "desc" {
		slices.Reverse(recs)
	}
	c.zdTickets(w, r, recs)
}

func (c *CRM) zdTickets(w http.ResponseWriter, r *http.Request, recs []CRMRecord) {
	tickets := []map[string]any{}
	for _, rec := range recs {
		tickets = append(tickets, c.zdTicket(r, rec))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tickets": tickets, "next_page": nil, "count": len(tickets)})
}

// zdTicketsByExternalID answers GET tickets.json?external_id=X.
func (c *CRM) zdTicketsByExternalID(w http.ResponseWriter, r *http.Request) {
	ext := r.URL.Query().Get("external_id")
	var recs []CRMRecord
	for _, rec := range c.Records() {
		if ext != "" && rec.externalID == ext {
			recs = append(recs, rec)
		}
	}
	c.zdTickets(w, r, recs)
}

type zdTicketWrite struct {
	Ticket struct {
		Subject string `json:"subject"`
		Comment *struct {
			Body    string   `json:"body"`
			Public  bool     `json:"public"`
			Uploads []string `json:"uploads"`
		} `json:"comment"`
		RequesterID int64    `json:"requester_id"`
		ExternalID  string   `json:"external_id"`
		Tags        []string `json:"tags"`
		// Metadata is stored on the audit as metadata.custom, exactly as
		// sent (Zendesk Tickets reference, "Setting Metadata"): a client
		// that sends {"custom": {...}} gets metadata.custom.custom.
		Metadata map[string]any `json:"metadata"`
	} `json:"ticket"`
}

func custom(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// zdCreateTicket answers POST tickets.json: 201 {"ticket":{...}}. A
// repeated Idempotency-Key answers the first ticket with
// x-idempotency-lookup: hit, as Zendesk documents for ticket creation
// (Ticketing API introduction, "Idempotency").
func (c *CRM) zdCreateTicket(w http.ResponseWriter, r *http.Request) {
	var in zdTicketWrite
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&in); err != nil {
		zdFail(w, http.StatusBadRequest, "InvalidJSON", err.Error())
		return
	}
	t := in.Ticket
	if t.Comment == nil || t.Comment.Body == "" {
		zdFail(w, http.StatusUnprocessableEntity, "RecordInvalid", "Description: cannot be blank")
		return
	}
	rec := CRMRecord{Subject: t.Subject, Description: t.Comment.Body, Dialect: "zendesk",
		InteractionID: custom(t.Metadata, "holdline_interaction"), externalID: t.ExternalID}
	if t.RequesterID != 0 {
		rec.ContactID = strconv.FormatInt(t.RequesterID, 10)
		if _, ok := c.contactByID(rec.ContactID); !ok {
			zdFail(w, http.StatusUnprocessableEntity, "RecordInvalid", "Requester: is invalid")
			return
		}
	}
	id, created := c.createRecord(rec, idemKey(r))
	if !created {
		w.Header().Set("X-Idempotency-Lookup", "hit")
	} else {
		w.Header().Set("X-Idempotency-Lookup", "miss")
	}
	full, _ := c.Record(id)
	writeJSON(w, http.StatusCreated, map[string]any{"ticket": c.zdTicket(r, full)})
}

// zdUpdateTicket answers PUT tickets/{id}.json with a comment: a plain
// comment becomes a ledger comment; a comment with uploads (or with
// metadata holdline_link) becomes ledger attachments. Like Zendesk, it
// ignores Idempotency-Key here: the Ticketing API introduction
// ("Idempotency") documents the key for ticket creation only, so every
// update adds a new audit.
func (c *CRM) zdUpdateTicket(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("idjson"), ".json")
	if !ok {
		http.NotFound(w, r)
		return
	}
	var in zdTicketWrite
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&in); err != nil {
		zdFail(w, http.StatusBadRequest, "InvalidJSON", err.Error())
		return
	}
	if !c.recordExists(id) {
		zdFail(w, http.StatusNotFound, "RecordNotFound", "Not found")
		return
	}
	if in.Ticket.Comment == nil {
		zdFail(w, http.StatusUnprocessableEntity, "RecordInvalid", "the simulator only takes comment updates")
		return
	}
	audit, status := c.zdApplyComment(id, in)
	if status != 0 {
		zdFail(w, status, "RecordInvalid", "Uploads: invalid token")
		return
	}
	c.zdAnswerUpdate(w, r, id, audit)
}

func (c *CRM) zdAnswerUpdate(w http.ResponseWriter, r *http.Request, id string, a zdAudit) {
	rec, _ := c.Record(id)
	writeJSON(w, http.StatusOK, map[string]any{"ticket": c.zdTicket(r, rec), "audit": a})
}

// zdApplyComment records one comment update and its audit. It returns a
// non-zero status for an invalid upload token.
func (c *CRM) zdApplyComment(id string, in zdTicketWrite) (zdAudit, int) {
	cm, meta := in.Ticket.Comment, in.Ticket.Metadata
	hkey := custom(meta, "holdline_key")
	c.mu.Lock()
	var ups []*upload
	for _, tok := range cm.Uploads {
		u := c.uploads[tok]
		if u == nil {
			c.mu.Unlock()
			return zdAudit{}, http.StatusUnprocessableEntity
		}
		ups = append(ups, u)
	}
	ev := zdEvent{Type: "Comment", Body: cm.Body, Public: cm.Public, Attachments: []zdAttachment{}}
	ev.ID = num(c.nextLocked("event"))
	c.mu.Unlock()

	part, parts := atoi(custom(meta, "holdline_part")), atoi(custom(meta, "holdline_parts"))
	switch link := custom(meta, "holdline_link"); {
	case len(ups) > 0:
		for _, u := range ups {
			c.addAttachment(id, CRMAttachment{ID: u.attachmentID, Name: u.name, ContentType: u.contentType,
				Part: part, Parts: parts, Size: u.size, SHA256: u.sha256, Dialect: "zendesk", IdempotencyKey: hkey}, false)
			ev.Attachments = append(ev.Attachments, zdAttachment{ID: num(u.attachmentID), FileName: u.name,
				ContentType: u.contentType, Size: u.size})
		}
	case link != "":
		aid, _, _ := c.addAttachment(id, CRMAttachment{Name: custom(meta, "holdline_name"), Link: link,
			Part: part, Parts: parts, Dialect: "zendesk", IdempotencyKey: hkey}, false)
		ev.Attachments = append(ev.Attachments, zdAttachment{ID: num(aid), FileName: custom(meta, "holdline_name")})
	default:
		cid, _, _ := c.addComment(id, CRMComment{Body: cm.Body, Author: custom(meta, "holdline_author"),
			Dialect: "zendesk", IdempotencyKey: hkey}, false)
		ev.ID = num(cid)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	a := zdAudit{ID: num(c.nextLocked("audit")), TicketID: num(id), CreatedAt: zdTime(c.now()),
		Metadata: map[string]any{"custom": meta, "system": map[string]any{}}, Events: []zdEvent{ev}}
	if meta == nil {
		a.Metadata["custom"] = map[string]any{}
	}
	c.zd.audits[id] = append(c.zd.audits[id], a)
	return a, 0
}

// zdAudits answers tickets/{id}/audits.json, oldest first unless
// sort_order=desc.
func (c *CRM) zdAudits(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !c.recordExists(id) {
		zdFail(w, http.StatusNotFound, "RecordNotFound", "Not found")
		return
	}
	c.mu.Lock()
	audits := slices.Clone(c.zd.audits[id])
	c.mu.Unlock()
	if r.URL.Query().Get("sort_order") == "desc" {
		slices.Reverse(audits)
	}
	if audits == nil {
		audits = []zdAudit{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"audits": audits, "next_page": nil, "count": len(audits)})
}

// zdUpload answers POST uploads.json?filename=X (raw body) with 201
// {"upload":{"token","attachment":{...}}}. Uploads are never
// deduplicated, as in Zendesk; an unused token simply expires.
func (c *CRM) zdUpload(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("filename")
	if name == "" {
		zdFail(w, http.StatusBadRequest, "InvalidValue", "filename is required")
		return
	}
	size, sum, err := digest(http.MaxBytesReader(w, r.Body, 50<<20))
	if err != nil {
		zdFail(w, http.StatusRequestEntityTooLarge, "InvalidValue", err.Error())
		return
	}
	c.mu.Lock()
	n := c.nextLocked("upload")
	u := &upload{attachmentID: c.nextLocked("attachment"), name: name, contentType: r.Header.Get("Content-Type"), size: size, sha256: sum}
	tok := base64.RawURLEncoding.EncodeToString([]byte("holdline-sim-upload-" + n))
	c.uploads[tok] = u
	c.mu.Unlock()
	att := zdAttachment{ID: num(u.attachmentID), FileName: name, ContentType: u.contentType, Size: size}
	writeJSON(w, http.StatusCreated, map[string]any{"upload": map[string]any{
		"token": tok, "expires_at": zdTime(c.now().Add(72 * time.Hour)),
		"attachment": att, "attachments": []zdAttachment{att},
	}})
}
