package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// maxJSONBody bounds a JSON request body the simulator reads.
const maxJSONBody = 1 << 20

func (c *CRM) genericRoutes(mux *http.ServeMux) {
	mux.Handle("GET /contacts", c.route("generic.lookup", false, c.genericLookup))
	mux.Handle("GET /contacts/{id}", c.route("generic.contact", false, c.genericContact))
	mux.Handle("GET /contacts/{id}/records", c.route("generic.records", false, c.genericRecords))
	mux.Handle("POST /records", c.route("generic.create_record", true, c.genericCreateRecord))
	mux.Handle("POST /records/{id}/comments", c.route("generic.comment", true, c.genericComment))
	mux.Handle("POST /records/{id}/attachments", c.route("generic.attach", true, c.genericAttach))
}

type genericContact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	URL   string `json:"url"`
}

func (c *CRM) genericContactOf(r *http.Request, ct CRMContact) genericContact {
	return genericContact{ID: ct.ID, Name: ct.Name, Email: ct.Email, Phone: ct.Phone,
		URL: "http://" + r.Host + "/contacts/" + ct.ID}
}

// genericLookup answers GET /contacts?phone=E164 with {"contacts":[...]},
// empty when nobody has the number.
func (c *CRM) genericLookup(w http.ResponseWriter, r *http.Request) {
	out := []genericContact{}
	if ct, ok := c.contactByPhone(r.URL.Query().Get("phone")); ok {
		out = append(out, c.genericContactOf(r, ct))
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": out})
}

// genericContact answers GET /contacts/{id} with the contact object.
func (c *CRM) genericContact(w http.ResponseWriter, r *http.Request) {
	ct, ok := c.contactByID(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "contact not found"})
		return
	}
	writeJSON(w, http.StatusOK, c.genericContactOf(r, ct))
}

type genericRecord struct {
	ID        string    `json:"id"`
	Subject   string    `json:"subject"`
	Status    string    `json:"status"`
	URL       string    `json:"url"`
	UpdatedAt time.Time `json:"updated_at"`
}

// genericRecords answers GET /contacts/{id}/records[?status=open] with
// {"records":[...]}.
func (c *CRM) genericRecords(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := c.contactByID(id); !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "contact not found"})
		return
	}
	out := []genericRecord{}
	for _, rec := range c.recordsOf(id, r.URL.Query().Get("status") == "open") {
		out = append(out, genericRecord{ID: rec.ID, Subject: rec.Subject, Status: rec.Status,
			URL: "http://" + r.Host + "/records/" + rec.ID, UpdatedAt: rec.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
}

// genericCreateRecord answers POST /records: 201 {"id"} for a new record,
// 200 {"id"} with Idempotent-Replayed: true for a repeated
// Idempotency-Key.
func (c *CRM) genericCreateRecord(w http.ResponseWriter, r *http.Request) {
	var in struct {
		InteractionID string `json:"interaction_id"`
		ContactID     string `json:"contact_id"`
		Subject       string `json:"subject"`
		Description   string `json:"description"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	id, created := c.createRecord(CRMRecord{InteractionID: in.InteractionID, ContactID: in.ContactID,
		Subject: in.Subject, Description: in.Description, Dialect: "generic"}, idemKey(r))
	writeCreated(w, created, map[string]string{"id": id})
}

// genericComment answers POST /records/{id}/comments {"body","author"}.
func (c *CRM) genericComment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body   string `json:"body"`
		Author string `json:"author"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	id, created, ok := c.addComment(r.PathValue("id"), CRMComment{Body: in.Body, Author: in.Author,
		Dialect: "generic", IdempotencyKey: idemKey(r)}, true)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "record not found"})
		return
	}
	writeCreated(w, created, map[string]string{"id": id})
}

// genericAttach answers POST /records/{id}/attachments, whose body is the
// part's raw bytes (or empty, with Holdline-Link).
func (c *CRM) genericAttach(w http.ResponseWriter, r *http.Request) {
	if !c.recordExists(r.PathValue("id")) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "record not found"})
		return
	}
	a := CRMAttachment{ContentType: r.Header.Get("Content-Type"), Link: r.Header.Get("Holdline-Link"),
		Dialect: "generic", IdempotencyKey: idemKey(r)}
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
		a.Name = params["filename"]
	}
	a.Part, _ = strconv.Atoi(r.Header.Get("Holdline-Part"))
	a.Parts, _ = strconv.Atoi(r.Header.Get("Holdline-Parts"))
	size, sum, err := digest(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading body: " + err.Error()})
		return
	}
	if a.Link == "" {
		a.Size, a.SHA256 = size, sum
	}
	id, created, ok := c.addAttachment(r.PathValue("id"), a, true)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "record not found"})
		return
	}
	writeCreated(w, created, map[string]string{"id": id})
}

// digest reads r to the end and returns its size and hex SHA-256.
func digest(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func writeCreated(w http.ResponseWriter, created bool, v any) {
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, http.StatusOK, v)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a JSON body into v, answering 400 itself on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json: " + err.Error()})
		return false
	}
	return true
}
