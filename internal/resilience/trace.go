package resilience

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the policy layer's spans.
const ScopeName = "github.com/holdline/holdline/internal/resilience"

// The attributes of the policy layer's spans.
const (
	attrDependency = attribute.Key("holdline.dependency")
	attrOperation  = attribute.Key("holdline.operation")
	attrEndpoint   = attribute.Key("holdline.endpoint")
	attrOutcome    = attribute.Key("holdline.outcome")
	attrAttempts   = attribute.Key("holdline.attempts")
	attrRejected   = attribute.Key("holdline.rejected")
	attrAttempt    = attribute.Key("holdline.attempt")
	attrRetry      = attribute.Key("holdline.retry")
	attrHedge      = attribute.Key("holdline.hedge")
)

// startCall starts the span of one Read or Write ("crm lookup"), the
// parent of its attempts' spans. Without a tracer (tracing off) it
// returns ctx and a nil span, and costs nothing.
func (d *Dependency) startCall(ctx context.Context, op string) (context.Context, trace.Span) {
	if d.tracer == nil {
		return ctx, nil
	}
	return d.tracer.Start(ctx, d.name+" "+op, trace.WithAttributes(
		attrDependency.String(d.name),
		attrOperation.String(op),
		attrEndpoint.String(d.activeEndpointName()),
	))
}

// endCall ends a call's span with its outcome (Dependency.run has set how
// many attempts ran) and, for a call refused before any ran (breaker open, bulkhead full,
// rate limited) that it was rejected.
func endCall(span trace.Span, oc outcome, ran bool, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attrOutcome.String(outcomeNames[oc]), attrRejected.Bool(!ran && err != nil))
	if err != nil && oc != outcomePermanent {
		span.SetStatus(codes.Error, outcomeNames[oc])
	}
	span.End()
}

// endPanicked ends the span of a call whose function panicked, before
// the panic goes on up.
func endPanicked(span trace.Span) {
	span.SetStatus(codes.Error, "panic")
	span.End()
}

// startAttempt starts the span of one attempt of a call (n counts from
// 1; a later one is a retry, or a hedge when hedge is set): the span the
// attempt's upstream request carries in its traceparent.
func (d *Dependency) startAttempt(ctx context.Context, n int32, hedge bool) (context.Context, trace.Span) {
	return d.tracer.Start(ctx, d.name+" attempt", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attrDependency.String(d.name),
		attrAttempt.Int(int(n)),
		attrRetry.Bool(n > 1 && !hedge),
		attrHedge.Bool(hedge),
	))
}

func endAttempt(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "attempt failed")
	}
	span.End()
}
