package sidecar

import (
	"context"
	"encoding/json"
	"log/slog"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/holdline/holdline/internal/tracing"
	"github.com/holdline/holdline/internal/upstream"
	"github.com/holdline/holdline/outbox"
)

// buildTracing builds the tracer provider tracing.otlp_endpoint asks for
// (nothing when it is empty) and closes it last, so the spans of
// everything else's shutdown are flushed.
func (s *Sidecar) buildTracing(context.Context) error {
	t, err := tracing.New(s.cfg.Tracing, s.opts.Version)
	if err != nil {
		return err
	}
	s.tracing = t
	if t.Enabled() {
		s.closers = append(s.closers, t.Close)
		s.log.Info("tracing on: spans exported over OTLP/HTTP", "endpoint", s.cfg.Tracing.OTLPEndpoint, "sample_ratio", s.cfg.Tracing.Ratio())
	}
	return nil
}

// logger is the sidecar's logger: opts' handler, with the request id (and
// the trace and span ids) of the context a record is logged with.
func logger(l *slog.Logger) *slog.Logger {
	return slog.New(tracing.LogHandler(l.Handler()))
}

// grpcTracing is the Dialogflow client's option that makes a client span
// per RPC and sends the trace context as gRPC metadata (traceparent),
// nil with tracing off.
func (s *Sidecar) grpcTracing() option.ClientOption {
	if !s.tracing.Enabled() {
		return nil
	}
	return option.WithGRPCDialOption(grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(s.tracing.TracerProvider()),
		otelgrpc.WithPropagators(s.tracing.Propagator()),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
	)))
}

// origin is what a job queued under ctx keeps of its request: the request
// id and, with tracing on, the request span's trace context.
func (j *jobs) origin(ctx context.Context) outbox.Origin {
	tp, ts := j.tr.Carry(ctx)
	return outbox.Origin{RequestID: upstream.RequestID(ctx), TraceParent: tp, TraceState: ts}
}

// traceJobs wraps every job handler so that a run's upstream calls carry
// the request id of the request that queued the job (X-Request-Id), and,
// with tracing on, run under a span of their own linked to that request's
// span (tracing.StartJob).
func traceJobs(handlers map[string]outbox.Handler, t *tracing.Tracing) map[string]outbox.Handler {
	out := make(map[string]outbox.Handler, len(handlers))
	for kind, h := range handlers {
		out[kind] = func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
			if id := j.Origin.RequestID; id != "" {
				ctx = upstream.WithRequestID(ctx, id)
			}
			ctx, end := t.StartJob(ctx, tracing.Job{
				ID: j.ID, Kind: j.Kind, RequestID: j.Origin.RequestID, Attempt: j.Attempts + 1,
				TraceParent: j.Origin.TraceParent, TraceState: j.Origin.TraceState,
			})
			res, err := h(ctx, j)
			end(err)
			return res, err
		}
	}
	return out
}
