package gateway

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkParseSpecs is what a process pays once, at start, to parse both
// embedded specs and build the validators' routers.
func BenchmarkParseSpecs(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parseSpecs(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildHandlers builds both planes' handlers for a new Server, as
// start-up does.
func BenchmarkBuildHandlers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		reg := prometheus.NewRegistry()
		s, err := New(Options{Logger: slog.New(slog.DiscardHandler), Registry: reg, Gatherer: reg})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.buildHandlers(); err != nil {
			b.Fatal(err)
		}
	}
}
