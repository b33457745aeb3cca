package sidecar

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdline/holdline/internal/config"
)

// BenchmarkScreenPopPath is one screen pop through the whole data plane
// as the listener serves it (the tracing wrapper, the gateway's
// middleware and handler, the screen-pop flow), answered from the cache:
// the hot path. tracing=off is the default config; tracing=on exports
// every span (sample ratio 1) to an OTLP receiver on loopback.
// Compare the two, and tracing=off against the same benchmark before
// tracing existed, as ratios measured in one run.
func BenchmarkScreenPopPath(b *testing.B) {
	b.Run("tracing=off", func(b *testing.B) { benchScreenPop(b, nil) })
	b.Run("tracing=on", func(b *testing.B) {
		recv := startOTLPBench(b)
		benchScreenPop(b, func(c *config.Config) { c.Tracing.OTLPEndpoint = recv.URL + "/v1/traces" })
	})
}

// startOTLPBench is an OTLP/HTTP endpoint that accepts and drops spans.
func startOTLPBench(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchScreenPop(b *testing.B, mod func(*config.Config)) {
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", b.TempDir()
	if mod != nil {
		mod(cfg)
	}
	sc, err := New(b.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler), Dev: true, Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	if err := sc.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sc.Stop() })
	h := sc.data.Handler // what the data listener serves
	const body = `{"phone":"+14155550100"}`
	pop := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/screen-pop", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := pop(); w.Code != 200 || !strings.Contains(w.Body.String(), `"source":"crm"`) {
		b.Fatalf("first pop = %d %s, want 200 from the CRM", w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if w := pop(); w.Code != 200 || !strings.Contains(w.Body.String(), `"source":"cache"`) {
			b.Fatalf("pop = %d %s, want 200 from the cache", w.Code, w.Body)
		}
	}
}
