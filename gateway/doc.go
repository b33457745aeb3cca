// Package gateway is holdline's HTTP layer and nothing else: the data-plane
// and admin-plane handlers (thin: decode, validate, call a flow, encode),
// middleware, and problem+json errors. It holds no business rules and no
// dependency clients; those live in internal/screenpop, outbox, adapters/...
//
// Routing is in routes.go. Each middleware is a func(http.Handler)
// http.Handler in its own file. Errors on the wire are RFC 9457 problems
// built in problem.go.
//
// Not a stable API: holdline is a binary, and this package serves it.
package gateway
