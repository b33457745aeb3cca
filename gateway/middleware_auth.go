package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"

	"github.com/holdline/holdline"
)

// Token is a named admin bearer token.
type Token struct {
	Name  string
	Value string
}

// requireAdmin answers 401 unless the request carries
// "Authorization: Bearer <token>" for a token in set (compared in constant time, see tokenSet).
// The token's name is stored as the actor for the audit log.
func requireAdmin(set tokenSet, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			if ok && strings.EqualFold(scheme, "Bearer") {
				if name, ok := set.match(strings.TrimSpace(cred)); ok {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey, name)))
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="holdline-admin"`)
			writeProblem(w, r, log, holdline.Errorf(holdline.EUNAUTHORIZED, "", "admin operations need Authorization: Bearer <admin token> (HOLDLINE_ADMIN_TOKEN)"))
		})
	}
}

// tokenSet checks presented tokens against the admin tokens in constant
// time (over their SHA-256, so the length does not leak either).
type tokenSet struct {
	names []string
	sums  [][32]byte
}

func newTokenSet(tokens []Token) tokenSet {
	ts := tokenSet{}
	for _, t := range tokens {
		ts.names = append(ts.names, t.Name)
		ts.sums = append(ts.sums, sha256.Sum256([]byte(t.Value)))
	}
	return ts
}

// match returns the name of the token tok is, comparing against every
// token whatever matches first.
func (ts tokenSet) match(tok string) (string, bool) {
	i, ok := ts.index(tok)
	if !ok {
		return "", false
	}
	return ts.names[i], true
}

// index returns the position of the token tok is, in constant time over
// the set.
func (ts tokenSet) index(tok string) (int, bool) {
	if tok == "" {
		return 0, false
	}
	got := sha256.Sum256([]byte(tok))
	match := -1
	for i := range ts.sums {
		if subtle.ConstantTimeCompare(got[:], ts.sums[i][:]) == 1 {
			match = i
		}
	}
	return match, match >= 0
}

// Actor returns the name of the admin token that authorized the request.
func Actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey).(string)
	return a
}
