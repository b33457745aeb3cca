package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Carry returns the W3C traceparent and tracestate of the span in ctx,
// for a job that ctx's request queues, or "" when tracing is off or ctx
// has no span.
func (t *Tracing) Carry(ctx context.Context) (traceparent, tracestate string) {
	if !t.Enabled() || !trace.SpanContextFromContext(ctx).IsValid() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	t.prop.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// Job describes an outbox job run, for StartJob.
type Job struct {
	ID, Kind, RequestID     string
	Attempt                 int // 1 for the first run
	TraceParent, TraceState string
}

// StartJob starts the span of one run of an outbox job: a new trace (the
// request that queued the job is long gone) whose span links to the
// request's span when the job carries its traceparent. The returned end
// records the run's error, if any, and ends the span; call it once. With
// tracing off, ctx comes back unchanged and end does nothing.
func (t *Tracing) StartJob(ctx context.Context, j Job) (context.Context, func(error)) {
	if !t.Enabled() {
		return ctx, func(error) {}
	}
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("holdline.job.id", j.ID),
			attribute.String("holdline.job.kind", j.Kind),
			attribute.Int("holdline.job.attempt", j.Attempt),
		),
	}
	if j.RequestID != "" {
		opts = append(opts, trace.WithAttributes(AttrRequestID.String(j.RequestID)))
	}
	if j.TraceParent != "" {
		c := propagation.MapCarrier{"traceparent": j.TraceParent}
		if j.TraceState != "" {
			c["tracestate"] = j.TraceState
		}
		if sc := trace.SpanContextFromContext(t.prop.Extract(context.Background(), c)); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
				attribute.String("holdline.link", "queued_by"),
			}}))
		}
	}
	ctx, span := t.tp.Tracer(ScopeName).Start(ctx, "outbox "+j.Kind, opts...)
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "job run failed")
		}
		span.End()
	}
}
