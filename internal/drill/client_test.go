package drill

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/gateway"
)

// TestNotConfiguredByProblemType asks a real gateway without flows: an
// operation it has no flow for is its not-configured problem, which the
// drill tells from other failures by the problem type alone.
func TestNotConfiguredByProblemType(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := gateway.New(gateway.Options{Logger: slog.New(slog.DiscardHandler), Registry: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := s.Handlers()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(data)
	t.Cleanup(srv.Close)
	a := &api{base: srv.URL, hc: srv.Client()}

	_, err = a.do(t.Context(), http.MethodGet, "/v1/dialogflow/agents", nil, nil, nil)
	if !notConfigured(err) {
		t.Errorf("GET /v1/dialogflow/agents on a sidecar without Dialogflow = %v, want not configured", err)
	}
	_, err = a.do(t.Context(), http.MethodGet, "/v1/no-such-route", nil, nil, nil)
	if err == nil || notConfigured(err) || !isStatus(err, http.StatusNotFound) {
		t.Errorf("GET /v1/no-such-route = %v, want a 404 that is not 'not configured'", err)
	}
	// A 503 of another type is a failure, whatever its detail says.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"type":"https://holdline.dev/problems/unavailable","title":"Service unavailable","status":503,"detail":"the outbox is not configured the way you think"}`))
	}))
	t.Cleanup(other.Close)
	b := &api{base: other.URL, hc: other.Client()}
	if _, err := b.do(t.Context(), http.MethodGet, "/v1/interactions/x", nil, nil, nil); err == nil || notConfigured(err) {
		t.Errorf("503 unavailable = %v, want a failure, not 'not configured'", err)
	}
}
