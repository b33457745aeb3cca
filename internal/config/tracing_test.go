package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTracingValidate: every tracing problem names its key, and the
// defaults are off, ratio 1 and service name holdline.
func TestTracingValidate(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"off", "", nil},
		{"good", "tracing: {otlp_endpoint: \"http://otel-collector:4318/v1/traces\", sample_ratio: 0.25, service_name: holdline-eu}\n", nil},
		{"no path", "tracing: {otlp_endpoint: \"https://collector.example.com\"}\n", nil},
		{"ratio zero", "tracing: {otlp_endpoint: \"http://c:4318\", sample_ratio: 0}\n", nil},
		{"not a url", "tracing: {otlp_endpoint: \"otel-collector:4318\"}\n", []string{"tracing.otlp_endpoint"}},
		{"grpc scheme", "tracing: {otlp_endpoint: \"grpc://c:4317\"}\n", []string{"tracing.otlp_endpoint"}},
		{"credentials", "tracing: {otlp_endpoint: \"http://u:p@c:4318\"}\n", []string{"tracing.otlp_endpoint"}},
		{"query", "tracing: {otlp_endpoint: \"http://c:4318/v1/traces?x=1\"}\n", []string{"tracing.otlp_endpoint"}},
		{"ratio above one", "tracing: {otlp_endpoint: \"http://c:4318\", sample_ratio: 1.5}\n", []string{"tracing.sample_ratio"}},
		{"ratio negative", "tracing: {otlp_endpoint: \"http://c:4318\", sample_ratio: -0.1}\n", []string{"tracing.sample_ratio"}},
		{"ratio without endpoint", "tracing: {sample_ratio: 0.5}\n", []string{"tracing.sample_ratio"}},
		{"bad service name", "tracing: {otlp_endpoint: \"http://c:4318\", service_name: \"hold line\"}\n", []string{"tracing.service_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problemPaths(t, minimal+tt.yaml)); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s", diff)
			}
		})
	}

	cfg, err := Parse([]byte(minimal+"tracing: {otlp_endpoint: \"http://c:4318\"}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Tracing.Enabled() || cfg.Tracing.Ratio() != 1 || cfg.Tracing.ServiceName != "holdline" {
		t.Errorf("tracing = %+v (ratio %v), want enabled, ratio 1, service holdline", cfg.Tracing, cfg.Tracing.Ratio())
	}
	if Default().Tracing.Enabled() {
		t.Error("Default().Tracing is enabled, want off")
	}
}
