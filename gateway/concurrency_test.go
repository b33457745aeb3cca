package gateway

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

// TestStatusShowsConcurrency: /v1/status and /ui show each dependency's
// bulkhead, the adaptive limit of one configured adaptive.
func TestStatusShowsConcurrency(t *testing.T) {
	deps := config.Default().Dependencies
	deps.CRM.Endpoints.Primary = "http://127.0.0.1:1"
	deps.CRM.Bulkhead = config.Bulkhead{Mode: "adaptive", MinConcurrent: 2, InitialConcurrent: 12, MaxConcurrent: 48}
	set, err := resilience.NewSet(deps, resilience.Options{Logger: slog.New(slog.DiscardHandler), AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	p := newPlanes(t, func(o *Options) { o.Services.Dependencies = set })
	c := signIn(t, p.admin.URL, testToken)

	resp, body := get(t, c, p.admin.URL+"/v1/status")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/status = %d", resp.StatusCode)
	}
	var st adminapi.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	got := map[string]adminapi.Concurrency{}
	for _, d := range st.Dependencies {
		if d.Concurrency == nil {
			t.Fatalf("%s: no concurrency in %s", d.Name, body)
		}
		got[string(d.Name)] = *d.Concurrency
	}
	if want := (adminapi.Concurrency{Mode: adminapi.ConcurrencyAdaptive, Limit: 12, Min: 2, Max: 48}); got["crm"] != want {
		t.Errorf("crm concurrency = %+v, want %+v", got["crm"], want)
	}
	if want := (adminapi.Concurrency{Mode: adminapi.ConcurrencyFixed, Limit: 64, Min: 64, Max: 64}); got["identity"] != want {
		t.Errorf("identity concurrency = %+v, want %+v", got["identity"], want)
	}

	_, body = get(t, c, p.admin.URL+"/ui")
	page := string(body)
	for _, want := range []string{`id="concurrency-crm" data-mode="adaptive" data-limit="12">adaptive limit 12 (2–48) · 0 in flight`, `id="concurrency-identity" data-mode="fixed" data-limit="64">bulkhead 64 · 0 in flight`} {
		if !strings.Contains(page, want) {
			t.Errorf("/ui lacks %q", want)
		}
	}
}
