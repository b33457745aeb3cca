package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The status page's session: POST /ui/login with an admin token sets a
// cookie naming the token, valid for sessionTTL, so the page (which has no
// JavaScript to set an Authorization header) can show who did what and
// offer its forms. The cookie is HttpOnly (no script reads it),
// SameSite=Strict (no other site's page or form sends it) and Secure when
// the admin plane is TLS. It is signed with the process's key over the
// token's SHA-256, so it dies with a restart, with its expiry, and when
// the token it was made from is removed.
const (
	sessionCookie = "holdline_ui"
	sessionTTL    = 8 * time.Hour
)

// sessionMAC signs a session for the token named name (whose SHA-256 is
// sum) expiring at exp.
func (k flashKey) sessionMAC(name string, sum [32]byte, exp int64) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("holdline ui session v1\x00"))
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(sum[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(exp))
	m.Write(b[:])
	return m.Sum(nil)
}

// newSession returns the cookie value for token index i.
func (s *Server) newSession(i int) string {
	exp := s.now().Add(sessionTTL).Unix()
	name := s.tokens.names[i]
	mac := s.flashes.sessionMAC(name, s.tokens.sums[i], exp)
	return base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// sessionActor returns the token name of r's valid session cookie.
func (s *Server) sessionActor(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return "", false
	}
	nameB, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	mac, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || s.now().Unix() >= exp {
		return "", false
	}
	name := string(nameB)
	ok := false
	for i := range s.tokens.names {
		if s.tokens.names[i] == name && hmac.Equal(mac, s.flashes.sessionMAC(name, s.tokens.sums[i], exp)) {
			ok = true
		}
	}
	return name, ok
}

// setSessionCookie writes the session cookie (value "" clears it).
func setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/ui", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// uiLogin checks the form's admin token and starts a session.
func (s *Server) uiLogin(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	i, ok := s.tokens.index(r.PostForm.Get("token"))
	if !ok {
		s.loginPage(w, r, "that admin token is not one of this sidecar's")
		return
	}
	setSessionCookie(w, r, s.newSession(i), int(sessionTTL/time.Second))
	http.Redirect(w, r, "/ui", http.StatusSeeOther)
}

// uiLogout ends the session.
func (s *Server) uiLogout(w http.ResponseWriter, r *http.Request) {
	setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/ui", http.StatusSeeOther)
}

// loginPage answers 401 with the login form.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusUnauthorized)
	if err := loginHTML(s.opts.Version, msg).Render(r.Context(), w); err != nil {
		s.log.Error("render login page", "error", err)
	}
}

// sameOrigin reports whether a form post comes from this admin plane: an
// Origin header, when the browser sends one, must name r's host. (The
// SameSite=Strict cookie already keeps other sites' forms out; this is
// the second lock.)
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// withSessionOrBearer puts the actor of a valid admin bearer token or
// status-page session in the request's context, for the reads that show
// more to an admin (who forced a breaker and why) and serve less to
// anyone else. It refuses nothing.
func (s *Server) withSessionOrBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, ok := "", false
		scheme, cred, found := strings.Cut(r.Header.Get("Authorization"), " ")
		if found && strings.EqualFold(scheme, "Bearer") {
			actor, ok = s.tokens.match(strings.TrimSpace(cred))
		}
		if !ok && strings.HasPrefix(r.URL.Path, "/ui") {
			actor, ok = s.sessionActor(r)
		}
		if ok {
			r = r.WithContext(context.WithValue(r.Context(), actorKey, actor))
		}
		next.ServeHTTP(w, r)
	})
}
