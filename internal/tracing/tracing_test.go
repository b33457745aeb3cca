package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// TestOff: without an endpoint there is no provider, no propagator, the
// data-plane handler is returned as it is, and jobs get no span.
func TestOff(t *testing.T) {
	tr, err := New(config.Tracing{ServiceName: "holdline"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || tr.TracerProvider() != nil || tr.Propagator() != nil {
		t.Errorf("off Tracing: Enabled %v, provider %v, propagator %v; want false, nil, nil", tr.Enabled(), tr.TracerProvider(), tr.Propagator())
	}
	h := http.Handler(&http.ServeMux{})
	if got := tr.Handler(h); got != h {
		t.Errorf("Handler(h) = %T, want h itself with tracing off", got)
	}
	ctx := t.Context()
	got, end := tr.StartJob(ctx, Job{Kind: "k", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	end(nil)
	if got != ctx || trace.SpanFromContext(got).IsRecording() {
		t.Error("StartJob changed the context with tracing off")
	}
	if tp, ts := tr.Carry(ctx); tp != "" || ts != "" {
		t.Errorf("Carry = %q, %q with tracing off, want empty", tp, ts)
	}
	var nilT *Tracing
	if nilT.Enabled() || nilT.ForceFlush(ctx) != nil || nilT.Shutdown(ctx) != nil {
		t.Error("a nil Tracing is not off")
	}
}

// TestOnRoundTrip: on, a job carries its request's trace context and the
// job's span links to it in a new trace.
func TestOnRoundTrip(t *testing.T) {
	tr, err := New(config.Tracing{OTLPEndpoint: "http://127.0.0.1:1", ServiceName: "holdline"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // nothing listens: do not wait for the export
		_ = tr.Shutdown(ctx)
	})
	ctx, span := tr.TracerProvider().Tracer("test").Start(t.Context(), "request")
	defer span.End()
	tp, _ := tr.Carry(ctx)
	want := span.SpanContext()
	if tp != "00-"+want.TraceID().String()+"-"+want.SpanID().String()+"-01" {
		t.Fatalf("Carry = %q, want the request span %s/%s", tp, want.TraceID(), want.SpanID())
	}
	var buf bytes.Buffer
	slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).InfoContext(ctx, "in a span")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["trace_id"] != want.TraceID().String() || line["span_id"] != want.SpanID().String() {
		t.Errorf("log line in a span = %s, want trace_id %s and span_id %s", buf.Bytes(), want.TraceID(), want.SpanID())
	}
	jctx, end := tr.StartJob(context.Background(), Job{ID: "j1", Kind: "crm.add_comment", TraceParent: tp})
	defer end(nil)
	js := trace.SpanFromContext(jctx).SpanContext()
	if !js.IsValid() || js.TraceID() == want.TraceID() {
		t.Errorf("job span trace %s, want a new trace (not %s)", js.TraceID(), want.TraceID())
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://c:4318":               "http://c:4318/v1/traces",
		"http://c:4318/":              "http://c:4318/v1/traces",
		"https://c.example/v1/traces": "https://c.example/v1/traces",
		"https://c.example/otlp/t":    "https://c.example/otlp/t",
	} {
		if got, err := tracesURL(in); err != nil || got != want {
			t.Errorf("tracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestLogHandler: a record logged with a request's context names the
// request (once, even when the call site names it too); one logged
// without a context is unchanged.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("dependency", "crm")
	ctx := upstream.WithRequestID(t.Context(), "req-7")
	log.InfoContext(ctx, "with context")
	log.LogAttrs(ctx, slog.LevelInfo, "named already", slog.String("request_id", "req-7"))
	log.Info("without context")

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if lines[0]["request_id"] != "req-7" || lines[0]["dependency"] != "crm" {
		t.Errorf("with context: %v, want request_id req-7 and dependency crm", lines[0])
	}
	if n := bytes.Count(bytes.Split(buf.Bytes(), []byte("\n"))[1], []byte(`"request_id"`)); n != 1 {
		t.Errorf("named already: request_id appears %d times, want 1", n)
	}
	if _, ok := lines[2]["request_id"]; ok {
		t.Errorf("without context: %v, want no request_id", lines[2])
	}
}
