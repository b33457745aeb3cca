package config

import (
	"fmt"
	"net/url"
	"regexp"
)

// Tracing configures OpenTelemetry tracing: one span per data-plane
// request (continuing an incoming W3C traceparent), one per dependency call
// and per attempt, one per outbox job run (linked to the request that
// queued it), exported over OTLP/HTTP. Without otlp_endpoint nothing is
// traced and nothing is exported; the W3C headers of incoming requests
// are then not sent on. The request id (X-Request-Id) goes upstream and
// into the logs either way.
type Tracing struct {
	// OTLPEndpoint is the collector's OTLP/HTTP traces URL, e.g.
	// http://otel-collector:4318/v1/traces (a URL without a path gets
	// /v1/traces). Default empty: tracing off. The exporter dials it
	// directly: it is not a dependency and no egress allowlist applies.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of new traces recorded, in [0, 1]; a
	// request that arrives with a traceparent follows its caller's
	// sampling decision. Default 1.0 (every trace) when otlp_endpoint is
	// set.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute of every span.
	// Default holdline.
	ServiceName string `yaml:"service_name"`
}

// Enabled reports whether spans are recorded and exported.
func (t Tracing) Enabled() bool { return t.OTLPEndpoint != "" }

// Ratio is the sample ratio in force: SampleRatio, or 1 when unset.
func (t Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return 1
	}
	return *t.SampleRatio
}

var serviceName = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,128}$`)

func (t *Tracing) applyDefaults() {
	setStr(&t.ServiceName, "holdline")
}

// Validate checks the tracing section at path.
func (t Tracing) Validate(path string) []error {
	v := &validator{path: path}
	if t.OTLPEndpoint != "" {
		u, err := url.Parse(t.OTLPEndpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.add("otlp_endpoint", fmt.Sprintf("%q is not an http(s) URL (the collector's OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces)", t.OTLPEndpoint))
		case u.User != nil:
			v.add("otlp_endpoint", "must not carry credentials")
		case u.RawQuery != "" || u.Fragment != "":
			v.add("otlp_endpoint", "must not have a query or fragment")
		}
	}
	if r := t.SampleRatio; r != nil && !(*r >= 0 && *r <= 1) {
		v.add("sample_ratio", fmt.Sprintf("%v is not in [0, 1]", *r))
	}
	if t.SampleRatio != nil && t.OTLPEndpoint == "" {
		v.add("sample_ratio", "has no effect without tracing.otlp_endpoint")
	}
	if !serviceName.MatchString(t.ServiceName) {
		v.add("service_name", fmt.Sprintf("%q must be 1-128 of A-Z, a-z, 0-9, ., _, / and -", t.ServiceName))
	}
	return v.errs
}
