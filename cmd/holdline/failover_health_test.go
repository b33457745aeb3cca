package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFailoverRefusesUnhealthyTarget: an admin plane whose status says the
// crm secondary is unhealthy (active health checks) makes failover to it
// refuse without --force, sending nothing; with --force it warns and fails
// over; a failover back to the healthy primary needs no --force.
func TestFailoverRefusesUnhealthyTarget(t *testing.T) {
	var moves atomic.Int32
	status := `{"version":"v","mode":"production","started_at":"2026-03-01T12:00:00Z","degraded":false,"drills":{"enabled":false,"faults":[]},"dependencies":[
{"name":"crm","tier":"critical","breaker":"closed","breaker_mode":"auto","breaker_override":null,"active_endpoint":"primary","endpoint":"https://crm","endpoint_override":null,
"calls_1m":0,"failures_1m":0,"failure_rate_1m":0,"p50_ms":0,"p99_ms":0,"last_error":"","last_error_at":null,"last_success_at":null,"active_faults":0,"auth":"ok",
"health":{"primary":{"state":"healthy","since":null,"checked_at":"2026-03-01T12:00:00Z","last_error":""},
"secondary":{"state":"unhealthy","since":null,"checked_at":"2026-03-01T12:00:00Z","last_error":"http 503"}}}]}`
	moved := `{"name":"crm","tier":"critical","breaker":"closed","breaker_mode":"auto","breaker_override":null,"active_endpoint":"secondary","endpoint":"https://crm2","endpoint_override":null,
"calls_1m":0,"failures_1m":0,"failure_rate_1m":0,"p50_ms":0,"p99_ms":0,"last_error":"","last_error_at":null,"last_success_at":null,"active_faults":0,"auth":"ok"}`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(status))
	})
	mux.HandleFunc("PUT /v1/admin/dependencies/crm/endpoint", func(w http.ResponseWriter, _ *http.Request) {
		moves.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(moved))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d := &devSidecar{admin: srv.URL, token: "admin-token-0123456789"}

	out, code := d.cli(t, "failover", "crm", "--to", "secondary", "--reason", "primary down")
	if code != 1 || !strings.Contains(out, "crm's secondary endpoint is unhealthy") || !strings.Contains(out, "http 503") || !strings.Contains(out, "--force") {
		t.Errorf("failover to an unhealthy secondary = %d: %s", code, out)
	}
	if n := moves.Load(); n != 0 {
		t.Fatalf("the endpoint was moved %d times without --force", n)
	}
	out, code = d.cli(t, "failover", "crm", "--to", "secondary", "--reason", "primary down", "--force")
	if code != 0 || !strings.Contains(out, "warning: crm's secondary endpoint is unhealthy") || moves.Load() != 1 {
		t.Errorf("failover --force = %d (moves %d): %s", code, moves.Load(), out)
	}
	if out, code = d.cli(t, "failover", "crm", "--to", "primary", "--reason", "back"); code != 0 || strings.Contains(out, "warning") || moves.Load() != 2 {
		t.Errorf("failover to the healthy primary = %d (moves %d): %s", code, moves.Load(), out)
	}
}
