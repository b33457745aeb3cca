package gateway

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
)

const testEnv = "projects/acme/locations/us-central1/agents/a1/environments/prod"

// newDialogflowPlanes serves the real Dialogflow adapter against the
// in-process simulator.
func newDialogflowPlanes(t *testing.T) (*planes, *sim.Dialogflow) {
	t.Helper()
	df, err := sim.StartDialogflow("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(df.Stop)
	set, err := resilience.NewSet(config.Default().Dependencies, resilience.Options{AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]config.DialogflowAgent{"support": {
		Environment: testEnv,
		Budget:      config.Duration(time.Second),
		Fallback:    config.DialogflowFallback{Message: "Let me connect you to an agent.", Queue: "support-live"},
	}}
	c, err := dialogflow.New(t.Context(), config.Dialogflow{Agents: agents}, set.Get("dialogflow"), dialogflow.Options{
		Endpoint:      func(string) string { return df.Addr() },
		ClientOptions: df.ClientOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return newPlanes(t, func(o *Options) { o.Services.Dialogflow = c }), df
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

func TestDialogflowDetectIntent(t *testing.T) {
	p, df := newDialogflowPlanes(t)
	url := p.data.URL + "/v1/dialogflow/support/sessions/call-1/detect-intent"

	resp, body := do(t, "POST", url, "application/json", `{"text":"what is my balance","language_code":"en"}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST detect-intent = %d %s, want 200", resp.StatusCode, body)
	}
	want := map[string]any{
		"messages":           []any{"Your balance is 42.50 USD."},
		"intent":             "check_balance",
		"page":               "Start Page",
		"parameters":         map[string]any{"balance": 42.5, "currency": "USD"},
		"environment":        testEnv,
		"source":             "dialogflow",
		"live_agent_handoff": false,
		"degraded":           false,
		"reasons":            []any{},
	}
	if diff := cmp.Diff(want, decode(t, body)); diff != "" {
		t.Errorf("detect-intent body (-want +got):\n%s", diff)
	}

	df.SetMode(sim.DialogflowUnavailable)
	resp, body = do(t, "POST", url, "application/json", `{"text":"hello","language_code":"en"}`, nil)
	want = map[string]any{
		"messages":           []any{"Let me connect you to an agent."},
		"environment":        testEnv,
		"source":             "fallback",
		"live_agent_handoff": true,
		"handoff_queue":      "support-live",
		"degraded":           true,
		"reasons":            []any{"dialogflow: unavailable"},
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST detect-intent with Dialogflow down = %d %s, want 200", resp.StatusCode, body)
	}
	if diff := cmp.Diff(want, decode(t, body)); diff != "" {
		t.Errorf("detect-intent fallback body (-want +got):\n%s", diff)
	}
}

func TestDialogflowDetectIntentProblems(t *testing.T) {
	p, df := newDialogflowPlanes(t)
	tests := []struct {
		name   string
		agent  string
		body   string
		status int
		field  string
	}{
		{"no input", "support", `{"language_code":"en"}`, 400, "text"},
		{"two inputs", "support", `{"text":"hi","event":"welcome","language_code":"en"}`, 400, "event"},
		{"three inputs", "support", `{"text":"hi","event":"welcome","dtmf":"1","language_code":"en"}`, 400, "event"},
		{"dtmf and text", "support", `{"dtmf":"1","text":"hi","language_code":"en"}`, 400, "dtmf"},
		{"empty text", "support", `{"text":"","language_code":"en"}`, 400, "text"},
		{"bad dtmf", "support", `{"dtmf":"12a","language_code":"en"}`, 400, "dtmf"},
		{"no language", "support", `{"text":"hi"}`, 400, "language_code"},
		{"unknown agent", "billing", `{"text":"hi","language_code":"en"}`, 404, "agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "POST", p.data.URL+"/v1/dialogflow/"+tt.agent+"/sessions/s1/detect-intent", "application/json", tt.body, nil)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s = %d %s %s, want %d problem+json", tt.body, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
			}
			if got := decode(t, body)["field"]; got != tt.field {
				t.Errorf("problem field = %v, want %q (body %s)", got, tt.field, body)
			}
		})
	}
	if s := df.Sessions(); len(s) != 0 {
		t.Errorf("bad requests reached Dialogflow: %v", s)
	}
}

func TestDialogflowListAgents(t *testing.T) {
	p, _ := newDialogflowPlanes(t)
	resp, body := do(t, "GET", p.data.URL+"/v1/dialogflow/agents", "", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/dialogflow/agents = %d %s", resp.StatusCode, body)
	}
	want := map[string]any{"agents": []any{map[string]any{
		"alias":         "support",
		"environment":   testEnv,
		"versions":      []any{"projects/acme/locations/us-central1/agents/a1/flows/" + sim.DialogflowDefaultFlow + "/versions/1"},
		"versions_read": true,
		"drift":         false,
		"breaker":       "closed",
	}}}
	if diff := cmp.Diff(want, decode(t, body)); diff != "" {
		t.Errorf("agents body (-want +got):\n%s", diff)
	}
}

func TestDialogflowNotConfigured(t *testing.T) {
	p := newPlanes(t, nil)
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/dialogflow/agents", ""},
		{"POST", "/v1/dialogflow/support/sessions/s1/detect-intent", `{"text":"hi","language_code":"en"}`},
	} {
		ct := ""
		if r.body != "" {
			ct = "application/json"
		}
		if resp, body := do(t, r.method, p.data.URL+r.path, ct, r.body, nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s %s without Dialogflow = %d %s, want 503", r.method, r.path, resp.StatusCode, body)
		}
	}
}
