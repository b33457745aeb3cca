package gateway

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdline/holdline/internal/screenpop"
)

// traceSource records where a screen pop's answer came from (crm, cache,
// stale, minimal) and whether it is degraded on the request's span. It
// does nothing unless the span is recording (tracing on and sampled).
func traceSource(ctx context.Context, r *screenpop.Result) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("holdline.screen_pop.source", r.Source),
		attribute.Bool("holdline.screen_pop.degraded", r.Degraded),
	)
}
