package sim

import (
	"context"
	"slices"

	"google.golang.org/grpc/metadata"
)

// DialogflowMetadata is the correlation metadata one DetectIntent call
// arrived with: the W3C trace context and the caller's request id.
type DialogflowMetadata struct {
	TraceParent string
	RequestID   string
}

func dfRecordMetadata(s []DialogflowMetadata, ctx context.Context) []DialogflowMetadata {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if len(s) >= dfMaxRecorded {
		s = slices.Delete(s, 0, len(s)-dfMaxRecorded+1)
	}
	return append(s, DialogflowMetadata{TraceParent: first("traceparent"), RequestID: first("x-request-id")})
}

// Metadata returns the correlation metadata of the DetectIntent calls
// received, in arrival order (the last 10,000).
func (d *Dialogflow) Metadata() []DialogflowMetadata {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.metadata)
}
