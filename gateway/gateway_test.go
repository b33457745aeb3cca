package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const testToken = "test-admin-token-0123456789"

type planes struct {
	srv         *Server
	data, admin *httptest.Server
	logs        *bytes.Buffer
}

func newPlanes(t *testing.T, mod func(*Options)) *planes {
	t.Helper()
	logs := &bytes.Buffer{}
	reg := prometheus.NewRegistry()
	opts := Options{
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:     reg,
		Gatherer:     reg,
		Tokens:       []Token{{Name: "oncall", Value: testToken}},
		MaxBodyBytes: 256,
		Version:      "test",
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	d, a, err := s.Handlers()
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	p := &planes{srv: s, data: httptest.NewServer(d), admin: httptest.NewServer(a), logs: logs}
	t.Cleanup(p.data.Close)
	t.Cleanup(p.admin.Close)
	return p
}

func do(t *testing.T, method, url, contentType, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestProblemBodies checks each kind of bad request against a golden
// problem+json body (compared as parsed JSON, without the request ID).
func TestProblemBodies(t *testing.T) {
	p := newPlanes(t, nil)
	long := `{"phone":"` + strings.Repeat("1", 400) + `"}`
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
	}{
		{"malformed_json", "POST", "/v1/screen-pop", "application/json", `{"phone":`, 400},
		{"unknown_field", "POST", "/v1/screen-pop", "application/json", `{"phone":"+14155550100","bogus":1}`, 400},
		{"missing_field", "POST", "/v1/screen-pop", "application/json", `{"region":"US"}`, 400},
		{"bad_enum", "POST", "/v1/screen-pop", "application/json", `{"phone":"+14155550100","channel":"fax"}`, 400},
		{"wrong_type", "POST", "/v1/screen-pop", "application/json", `{"phone":14155550100}`, 400},
		{"wrong_content_type", "POST", "/v1/screen-pop", "text/plain", `phone=1`, 415},
		{"too_large", "POST", "/v1/screen-pop", "application/json", long, 413},
		{"bad_path_param", "GET", "/v1/interactions/bad%20id", "", "", 400},
		{"nested_unknown_field", "POST", "/v1/dialogflow/support/sessions/s1/detect-intent", "application/json", `{"language_code":"en","text":"hi","extra":{"a":1}}`, 400},
		{"encoded_slash_in_path", "POST", "/v1/interactions/q%2Fz/comments", "application/json", `{"bogus":true}`, 400},
		{"encoded_traversal_in_path", "POST", "/v1/interactions/a%2F..%2F..%2Fevil/recordings", "audio/wav", "RIFF", 400},
		{"dot_dot_path_param", "GET", "/v1/interactions/..", "", "", 400},
		{"unknown_route", "GET", "/v1/nope", "", "", 404},
		{"method_not_allowed", "DELETE", "/v1/screen-pop", "", "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, p.data.URL+tt.path, tt.ctype, tt.body, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			if got["request_id"] != resp.Header.Get("X-Request-Id") || got["request_id"] == "" {
				t.Errorf("request_id = %v, header X-Request-Id = %q", got["request_id"], resp.Header.Get("X-Request-Id"))
			}
			delete(got, "request_id")
			compareGolden(t, filepath.Join("testdata", "problems", tt.name+".json"), got)
		})
	}
}

func compareGolden(t *testing.T, path string, got map[string]any) {
	t.Helper()
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update): %v", err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problem differs from %s (-want +got):\n%s", path, diff)
	}
}

func TestAdminMutationsNeedToken(t *testing.T) {
	p := newPlanes(t, nil)
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"wrong scheme", "Basic " + testToken, 401},
		{"prefix of token", "Bearer " + testToken[:10], 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			resp, body := do(t, "POST", p.admin.URL+"/v1/admin/faults", "application/json", `{"dependency":"crm","duration":"1s"}`, hdr)
			if resp.StatusCode != tt.want {
				t.Fatalf("POST /v1/admin/faults = %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("right token passes auth", func(t *testing.T) {
		resp, body := do(t, "GET", p.admin.URL+"/v1/admin/faults", "", "", map[string]string{"Authorization": "Bearer " + testToken})
		if resp.StatusCode == 401 {
			t.Fatalf("GET /v1/admin/faults with the token = 401 %s", body)
		}
	})
	if strings.Contains(p.logs.String(), testToken) {
		t.Errorf("logs contain the admin token")
	}
}

func TestProbes(t *testing.T) {
	p := newPlanes(t, nil)
	get := func(path string) int {
		resp, _ := do(t, "GET", p.admin.URL+path, "", "", nil)
		return resp.StatusCode
	}
	if got := get("/healthz"); got != 200 {
		t.Errorf("/healthz = %d", got)
	}
	if got := get("/readyz"); got != 200 {
		t.Errorf("/readyz = %d, want 200", got)
	}
	p.srv.AddReadyCheck("store", func() error { return errors.New("closed") })
	if got := get("/readyz"); got != 503 {
		t.Errorf("/readyz with a failing local check = %d, want 503", got)
	}
	p.srv.AddReadyCheck("store", func() error { return nil })
	p.srv.SetStopping()
	if got := get("/readyz"); got != 503 {
		t.Errorf("/readyz while stopping = %d, want 503", got)
	}
	if got := get("/healthz"); got != 200 {
		t.Errorf("/healthz while stopping = %d, want 200", got)
	}
}

func TestRequestID(t *testing.T) {
	p := newPlanes(t, nil)
	resp, _ := do(t, "GET", p.admin.URL+"/healthz", "", "", map[string]string{"X-Request-Id": "abc-123"})
	if got := resp.Header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id echo = %q, want abc-123", got)
	}
	resp, _ = do(t, "GET", p.admin.URL+"/healthz", "", "", map[string]string{"X-Request-Id": "bad id with spaces"})
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Errorf("malformed X-Request-Id was not replaced: %q", got)
	}
}

func TestMetricsUseRouteTemplates(t *testing.T) {
	p := newPlanes(t, nil)
	do(t, "GET", p.data.URL+"/v1/interactions/call-42", "", "", nil)
	do(t, "BREW42", p.data.URL+"/v1/interactions/call-42", "", "", nil)
	_, body := do(t, "GET", p.admin.URL+"/metrics", "", "", nil)
	text := string(body)
	// Any token is a valid method: a made-up one must not make a series.
	if strings.Contains(text, "BREW42") || !strings.Contains(text, `method="other"`) {
		t.Errorf("a made-up method is not counted as other:\n%s", grep(text, "holdline_http_requests_total"))
	}
	if !strings.Contains(text, `holdline_http_requests_total{listener="data",method="GET",route="/v1/interactions/{interaction_id}",status="503"} 1`) {
		t.Errorf("metrics lack the route-template series:\n%s", grep(text, "holdline_http_requests_total"))
	}
	if strings.Contains(text, "call-42") {
		t.Errorf("metrics contain a raw path")
	}
	if !strings.Contains(text, "go_goroutines") && !strings.Contains(text, "holdline_http_request_duration_seconds_bucket") {
		t.Errorf("metrics lack the duration histogram")
	}
}

func grep(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	p := problemFor(errors.New("dial tcp 10.9.8.7:443: token=sekrit"))
	if p.Status != 500 || strings.Contains(p.Detail, "sekrit") || strings.Contains(p.Detail, "10.9.8.7") {
		t.Fatalf("problemFor(internal) = %+v, leaks the cause", p)
	}
}

func TestOpenAPIServed(t *testing.T) {
	p := newPlanes(t, nil)
	resp, body := do(t, "GET", p.data.URL+"/openapi.yaml", "", "", nil)
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("openapi: 3.0")) {
		t.Fatalf("GET /openapi.yaml = %d %.40s", resp.StatusCode, body)
	}
}

func TestChunkedBodyOverLimit(t *testing.T) {
	p := newPlanes(t, nil)
	body := `{"phone":"` + strings.Repeat("1", 1000) + `"}`
	req, _ := http.NewRequestWithContext(t.Context(), "POST", p.data.URL+"/v1/screen-pop", io.MultiReader(strings.NewReader(body)))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1 // chunked: the limit must hold while reading
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("chunked oversize body = %d %s, want 413", resp.StatusCode, b)
	}
}
