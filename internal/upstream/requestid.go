package upstream

import "context"

// RequestIDHeader carries the id of the request that caused an upstream
// call, so the CRM's or the identity provider's logs can be matched with
// holdline's.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// WithRequestID returns ctx carrying id, the id of the request being
// served (the gateway's request-id middleware sets it).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id WithRequestID stored in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
