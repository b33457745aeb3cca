package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
)

// Token is a named admin bearer token.
type Token struct {
	Name  string
	Value string
}

// requireAdmin answers 401 unless the request carries
// "Authorization: Bearer <token>" for one of tokens. Tokens are compared in
// constant time (over their SHA-256, so the length does not leak either).
// The token's name is stored as the actor for the audit log.
func requireAdmin(tokens []Token, log *slog.Logger) func(http.Handler) http.Handler {
	sums := make([][32]byte, len(tokens))
	for i, t := range tokens {
		sums[i] = sha256.Sum256([]byte(t.Value))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			scheme, cred, ok := strings.Cut(h, " ")
			if ok && strings.EqualFold(scheme, "Bearer") && cred != "" {
				got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
				match := -1
				for i := range sums {
					if subtle.ConstantTimeCompare(got[:], sums[i][:]) == 1 {
						match = i
					}
				}
				if match >= 0 {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey, tokens[match].Name)))
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="holdline-admin"`)
			p := newProblem(http.StatusUnauthorized, "unauthorized", "admin operations need Authorization: Bearer <admin token> (HOLDLINE_ADMIN_TOKEN)")
			writeProblem(w, r, log, p)
		})
	}
}

// Actor returns the name of the admin token that authorized the request.
func Actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey).(string)
	return a
}
