// Package tracing builds holdline's OpenTelemetry tracing from config: the
// tracer provider exporting over OTLP/HTTP, the W3C trace-context
// propagator, the data plane's server spans and the outbox jobs' dispatch
// spans. Nothing here is global: the sidecar builds one Tracing and hands
// its provider and propagator to the packages that make spans.
//
// Off (no tracing.otlp_endpoint), a Tracing has no provider, no exporter
// and no propagator; Handler returns the handler it is given and the
// policy layer makes no spans, so the hot path pays nothing.
//
// Not a stable API: holdline is a binary, and this package serves it.
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdline/holdline/internal/config"
)

// ScopeName is the instrumentation scope of holdline's own spans.
const ScopeName = "github.com/holdline/holdline"

// Tracing is the sidecar's tracing: a tracer provider and a propagator
// when tracing is on, nothing when it is off. Its methods are safe for
// concurrent use, and on a nil or off Tracing they do nothing.
type Tracing struct {
	tp   *sdktrace.TracerProvider
	prop propagation.TextMapPropagator
}

// New builds the tracing cfg asks for (cfg must have passed Validate):
// with cfg.OTLPEndpoint empty an off Tracing, else a provider sampling
// new traces at cfg.Ratio() (parent-based: a continued trace keeps its
// caller's decision) and batching spans to the OTLP/HTTP endpoint.
// version is the service.version resource attribute. New dials nothing:
// the exporter connects on its first export.
func New(cfg config.Tracing, version string) (*Tracing, error) {
	if !cfg.Enabled() {
		return &Tracing{}, nil
	}
	endpoint, err := tracesURL(cfg.OTLPEndpoint)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", version),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.Ratio()))),
	)
	return &Tracing{tp: tp, prop: propagation.TraceContext{}}, nil
}

// tracesURL is the exporter's URL: endpoint, with /v1/traces when it has
// no path.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("tracing: otlp_endpoint: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.tp != nil }

// TracerProvider returns the provider, nil when tracing is off.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if !t.Enabled() {
		return nil
	}
	return t.tp
}

// Propagator returns the W3C trace-context propagator (traceparent,
// tracestate), nil when tracing is off.
func (t *Tracing) Propagator() propagation.TextMapPropagator {
	if !t.Enabled() {
		return nil
	}
	return t.prop
}

// ForceFlush exports every span ended so far, waiting until the exporter
// has sent them or ctx ends.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown flushes the spans not yet exported and stops the exporter,
// waiting at most until ctx ends. Spans started afterwards are dropped.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Close is Shutdown with a 5 s bound, for the sidecar's closers.
func (t *Tracing) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.Shutdown(ctx)
}
