package sim

import (
	"encoding/json"
	"net/http"
	"strings"
)

// DevHandler serves only the /dev/crm/ inspection and drill routes (see
// the package documentation), for mounting on an admin listener. It never
// applies faults or authentication.
func (c *CRM) DevHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/crm/contacts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"contacts": c.Contacts()})
	})
	mux.HandleFunc("POST /dev/crm/contacts", c.devAddContact)
	mux.HandleFunc("GET /dev/crm/records", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"records": c.Records()})
	})
	mux.HandleFunc("GET /dev/crm/mode", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Mode())
	})
	mux.HandleFunc("POST /dev/crm/mode", c.devSetMode)
	mux.HandleFunc("POST /dev/crm/tokens/expire", func(w http.ResponseWriter, r *http.Request) {
		c.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /dev/crm/stats", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		nc, nr := len(c.contacts), len(c.records)
		c.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"hits": c.Hits(), "contacts": nc, "records": nr})
	})
	return mux
}

func (c *CRM) devAddContact(w http.ResponseWriter, r *http.Request) {
	var in CRMContact
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json: " + err.Error()})
		return
	}
	if in.Name == "" || (in.Phone == "" && in.Mobile == "") || !strings.HasPrefix(in.Phone+in.Mobile, "+") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name and an E.164 phone or mobile are required"})
		return
	}
	writeJSON(w, http.StatusCreated, c.AddContact(in))
}

func (c *CRM) devSetMode(w http.ResponseWriter, r *http.Request) {
	var m CRMMode
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&m); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json: " + err.Error()})
		return
	}
	if err := c.SetMode(m); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, c.Mode())
}
