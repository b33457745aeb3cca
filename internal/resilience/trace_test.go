package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/holdline/holdline/internal/config"
)

// tracedEnv is newEnv with spans recorded in memory and W3C propagation.
func tracedEnv(t *testing.T, mutate func(d *config.Dependencies)) (*env, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	e := newEnv(t, mutate, func(o *Options) {
		o.TracerProvider, o.Propagator = tp, propagation.TraceContext{}
	})
	return e, rec
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestTraceRetries: a read retried twice is one call span with three
// attempt spans under it, the later two marked as retries, each
// attempt's HTTP request carrying its own span as the traceparent parent.
func TestTraceRetries(t *testing.T) {
	var seen []string
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Traceparent")) // one request at a time
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	e, rec := tracedEnv(t, func(d *config.Dependencies) {
		d.CRM.Endpoints = config.Endpoints{Primary: srv.URL}
		d.CRM.Retry.MaxAttempts = 3
		d.CRM.Retry.Backoff = config.Duration(time.Millisecond)
	})
	d := e.crm()
	if _, err := Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
		return httpGet(ctx, d, http.MethodGet, srv.URL)
	}); err != nil {
		t.Fatalf("Read: %v", err)
	}

	spans := rec.Ended()
	var call sdktrace.ReadOnlySpan
	var attempts []sdktrace.ReadOnlySpan
	for _, s := range spans {
		switch s.Name() {
		case "crm lookup":
			call = s
		case "crm attempt":
			attempts = append(attempts, s)
		}
	}
	if call == nil || len(attempts) != 3 {
		t.Fatalf("spans = %d (call %v, %d attempts), want a call span and 3 attempts", len(spans), call != nil, len(attempts))
	}
	if got := spanAttr(call, "holdline.attempts").AsInt64(); got != 3 {
		t.Errorf("call holdline.attempts = %d, want 3", got)
	}
	if got := spanAttr(call, "holdline.outcome").AsString(); got != "success" {
		t.Errorf("call holdline.outcome = %q, want success", got)
	}
	for i, a := range attempts {
		if a.Parent().SpanID() != call.SpanContext().SpanID() {
			t.Errorf("attempt %d's parent = %s, want the call span %s", i+1, a.Parent().SpanID(), call.SpanContext().SpanID())
		}
		if got := spanAttr(a, "holdline.attempt").AsInt64(); got != int64(i+1) {
			t.Errorf("attempt %d: holdline.attempt = %d", i+1, got)
		}
		if got := spanAttr(a, "holdline.retry").AsBool(); got != (i > 0) {
			t.Errorf("attempt %d: holdline.retry = %v, want %v", i+1, got, i > 0)
		}
		if len(seen) == 3 && !strings.Contains(seen[i], a.SpanContext().SpanID().String()) {
			t.Errorf("attempt %d's request carried traceparent %q, want parent %s", i+1, seen[i], a.SpanContext().SpanID())
		}
	}
	if len(seen) != 3 {
		t.Errorf("server saw %d requests, want 3", len(seen))
	}
}

// TestTraceBreakerRejection: a call the breaker refuses is a call span
// marked rejected, with outcome circuit_open and no attempt span.
func TestTraceBreakerRejection(t *testing.T) {
	e, rec := tracedEnv(t, nil)
	d := e.crm()
	if err := d.SetBreakerMode(BreakerOpen, "test", "drill"); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(t.Context(), d, "lookup", ok); err == nil {
		t.Fatal("Read through an open breaker succeeded")
	}
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "crm lookup" {
		t.Fatalf("spans = %v, want only the call span", spans)
	}
	s := spans[0]
	if !spanAttr(s, "holdline.rejected").AsBool() || spanAttr(s, "holdline.outcome").AsString() != "circuit_open" {
		t.Errorf("call span attributes = %v, want rejected and circuit_open", s.Attributes())
	}
}

// TestTraceOffNoSpansNoHeader: without a provider and a propagator, no
// span is made and no traceparent goes upstream.
func TestTraceOffNoSpansNoHeader(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Traceparent")
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Endpoints = config.Endpoints{Primary: srv.URL} })
	d := e.crm()
	if d.tracer != nil || d.prop != nil {
		t.Fatal("tracing is on without a provider")
	}
	if _, err := Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
		return httpGet(ctx, d, http.MethodGet, srv.URL)
	}); err != nil && !errors.Is(err, errBoom) {
		t.Fatalf("Read: %v", err)
	}
	if tp := <-got; tp != "" {
		t.Errorf("upstream saw traceparent %q with tracing off", tp)
	}
}
