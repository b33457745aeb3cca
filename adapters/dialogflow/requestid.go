package dialogflow

import (
	"context"

	"google.golang.org/grpc/metadata"

	"github.com/holdline/holdline/internal/upstream"
)

// requestIDMetadata is the gRPC metadata key of the request id: the
// lower-case form of upstream.RequestIDHeader.
const requestIDMetadata = "x-request-id"

// withRequestID adds the id of the request being served
// (upstream.RequestID) to ctx's outgoing gRPC metadata, as the HTTP
// dependencies send it in X-Request-Id.
func withRequestID(ctx context.Context) context.Context {
	if id := upstream.RequestID(ctx); id != "" {
		return metadata.AppendToOutgoingContext(ctx, requestIDMetadata, id)
	}
	return ctx
}
