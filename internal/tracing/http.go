package tracing

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdline/holdline/internal/upstream"
)

// Attribute keys of holdline's own span attributes.
const (
	AttrRequestID = attribute.Key("holdline.request_id")
	attrRoute     = attribute.Key("http.route")
)

// Handler wraps the data plane's handler h (a chi router) in a server
// span per request: it continues the W3C traceparent and tracestate the
// caller sent, or starts a trace, and ends when the response is written.
// The span is named for the method and route ("POST /v1/screen-pop") and
// carries the request id (holdline.request_id) the gateway answered with
// in X-Request-Id. With tracing off it returns h itself: no wrapper runs.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if !t.Enabled() {
		return h
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// chi keeps using a route context it finds in the request's
		// context, so the route it matched can be read back here.
		rctx := chi.NewRouteContext()
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
		h.ServeHTTP(w, r)
		span := trace.SpanFromContext(r.Context())
		if p := rctx.RoutePattern(); p != "" {
			span.SetName(r.Method + " " + p)
			span.SetAttributes(attrRoute.String(p))
		}
		if id := w.Header().Get(upstream.RequestIDHeader); id != "" {
			span.SetAttributes(AttrRequestID.String(id))
		}
	})
	return otelhttp.NewHandler(inner, "http.server",
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithPropagators(t.prop),
		otelhttp.WithMeterProvider(noop.NewMeterProvider()), // metrics are Prometheus's
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}
