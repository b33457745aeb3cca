package sim

import (
	"encoding/json"
	"net/http"
	"time"
)

// DevHandler serves the /dev/idp/ routes for trying identity by hand, for
// mounting on the admin listener in dev mode. It never applies faults.
//
//	GET  /dev/idp/token?sub=NAME  {"jwt": "...", "opaque": "...", "issuer": "...", "expires_at": "..."}
//	GET  /dev/idp/mode            {"mode": "ok"}
//	POST /dev/idp/mode            {"mode": "ok|hang|503|down"}
//	POST /dev/idp/rotate          {"kid": "key-2"}: a new signing key
//	GET  /dev/idp/stats           {"hits": {"jwks": 3, ...}}
func (p *IdP) DevHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/idp/token", func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Query().Get("sub")
		if sub == "" {
			sub = "dev-agent"
		}
		if len(sub) > 256 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "sub is longer than 256 bytes"})
			return
		}
		jwt, err := p.Mint(sub)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "mint failed"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"jwt":        jwt,
			"opaque":     p.MintOpaque(sub),
			"issuer":     p.opts.Issuer,
			"expires_at": p.now().Add(p.opts.TokenTTL).UTC().Truncate(time.Second),
		})
	})
	mux.HandleFunc("GET /dev/idp/mode", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]IdPMode{"mode": p.Mode()})
	})
	mux.HandleFunc("POST /dev/idp/mode", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Mode IdPMode `json:"mode"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json: " + err.Error()})
			return
		}
		if err := p.SetMode(in.Mode); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]IdPMode{"mode": p.Mode()})
	})
	mux.HandleFunc("POST /dev/idp/rotate", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"kid": p.RotateKey()})
	})
	mux.HandleFunc("GET /dev/idp/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"hits": p.Hits()})
	})
	return mux
}
