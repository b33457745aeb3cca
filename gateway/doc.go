// Package gateway is holdline's HTTP layer and nothing else: the data-plane
// and admin-plane handlers (thin: decode, validate, call a flow, encode),
// middleware, and problem+json errors. It holds no business rules and no
// dependency clients; it sees the flows of internal/ (screenpop,
// interactions, capture) and their ports (conversation.Service,
// authn.Verifier), and never imports adapters/ (internal/layers checks).
//
// Routing is in routes.go. Each middleware is a func(http.Handler)
// http.Handler in its own file. Errors on the wire are RFC 9457 problems:
// handlers and flows return *holdline.Error values, and problemFor in
// problem.go maps each code to its status and problem type, the only
// place that does.
//
// Not a stable API: holdline is a binary, and this package serves it.
package gateway
