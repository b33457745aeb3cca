package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

const token = "sidecar-test-token-0123456789"

type testSidecar struct {
	*Sidecar
	data, admin string
	logs        *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDev starts a dev-mode sidecar (in-process simulators) on loopback.
func startDev(t *testing.T, mod func(*config.Config)) *testSidecar {
	t.Helper()
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	if mod != nil {
		mod(cfg)
	}
	logs := &syncBuffer{}
	sc, err := New(t.Context(), cfg, Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Dev:    true,
		Getenv: func(k string) string {
			if k == "HOLDLINE_ADMIN_TOKEN" {
				return token
			}
			return ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts := &testSidecar{Sidecar: sc, data: "http://" + sc.Addr(), admin: "http://" + sc.AdminAddr(), logs: logs}
	t.Cleanup(func() {
		if err := sc.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return ts
}

func (ts *testSidecar) post(t *testing.T, url, body string, out any) int {
	t.Helper()
	return ts.postCtx(t.Context(), t, url, body, out)
}

// postCtx is post with a context of the caller's, e.g. a hang guard.
func (ts *testSidecar) postCtx(ctx context.Context, t *testing.T, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

func (ts *testSidecar) get(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

type pop struct {
	E164     string          `json:"e164"`
	Contact  json.RawMessage `json:"contact"`
	Records  []any           `json:"records"`
	Source   string          `json:"source"`
	Degraded bool            `json:"degraded"`
	Reasons  []string        `json:"reasons"`
}

func (ts *testSidecar) pop(t *testing.T, phone string) pop {
	t.Helper()
	var p pop
	if code := ts.post(t, ts.data+"/v1/screen-pop", `{"phone":"`+phone+`"}`, &p); code != 200 {
		t.Fatalf("screen pop %s = %d", phone, code)
	}
	return p
}

// crmHits returns how many requests the dev CRM simulator has received
// on the routes whose names start with prefix ("" for all).
func (ts *testSidecar) crmHits(t *testing.T, prefix string) float64 {
	t.Helper()
	var st struct {
		Hits map[string]float64 `json:"hits"`
	}
	ts.get(t, ts.admin+"/dev/crm/stats", &st)
	n := 0.0
	for k, v := range st.Hits {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func (ts *testSidecar) fault(t *testing.T, body string) {
	t.Helper()
	if code := ts.post(t, ts.admin+"/v1/admin/faults", body, nil); code != 201 {
		t.Fatalf("add fault %s = %d", body, code)
	}
}

// hangGuard bounds every wait for an event in this package's tests. It is
// not a latency budget (the screenpop package tests the budget with
// synctest, the bench harness measures latency): it only turns a hang into
// a clear failure, and is generous so that a loaded machine never trips it.
const hangGuard = time.Minute

// waitUntil polls cond until it reports done, and fails the test once
// hangGuard has passed, naming what it waited for and cond's last
// description of what it saw instead.
func waitUntil(t *testing.T, what string, cond func() (done bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done, seen := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v (hang guard); last seen: %s", what, hangGuard, seen)
		}
		<-tick.C
	}
}

func TestScreenPopFreshThenCache(t *testing.T) {
	t.Parallel()
	ts := startDev(t, nil)
	p := ts.pop(t, "(415) 555-0100")
	if p.Source != "crm" || p.Degraded || !strings.Contains(string(p.Contact), "Ada Lovelace") || len(p.Records) != 1 {
		t.Fatalf("first pop = %+v, want source crm with Ada and one open record", p)
	}
	p = ts.pop(t, "+14155550100")
	if p.Source != "cache" || p.Degraded {
		t.Fatalf("repeat pop = %+v, want source cache", p)
	}
	if strings.Contains(ts.logs.String(), "4155550100") {
		t.Errorf("logs contain the whole phone number")
	}
}

// TestScreenPopWhileCRMFails: with the CRM answering 503, known numbers are
// served stale and unknown ones minimal, degraded with the CRM's answer as
// the reason; the breaker opens and then the CRM sees no calls until it
// half-opens.
func TestScreenPopWhileCRMFails(t *testing.T) {
	t.Parallel()
	ts := startDev(t, func(c *config.Config) {
		c.Cache.FreshTTL = config.Duration(50 * time.Millisecond)
		c.Dependencies.CRM.Breaker.OpenFor = config.Duration(10 * time.Minute)
	})
	if p := ts.pop(t, "+14155550100"); p.Source != "crm" {
		t.Fatalf("warm-up pop = %+v", p)
	}
	ts.fault(t, `{"dependency":"crm","error_rate":1,"status":503,"duration":"10m"}`)
	// Ada's entry is served from the cache until its 50ms fresh TTL ends,
	// then stale: the CRM now fails.
	waitUntil(t, "Ada's cache entry to go stale", func() (bool, string) {
		k := ts.pop(t, "+14155550100")
		if k.Source != "cache" && k.Source != "stale" {
			t.Fatalf("pop of the cached number with the CRM failing = %+v, want cache, then stale", k)
		}
		return k.Source == "stale", fmt.Sprintf("%+v", k)
	})

	for i := range 30 {
		phone := "+1212555" + []string{"0101", "0102", "0103"}[i%3]
		p := ts.pop(t, phone)
		if p.Source != "minimal" || !p.Degraded || len(p.Reasons) != 1 || !strings.HasPrefix(p.Reasons[0], "crm: ") {
			t.Fatalf("pop %d of unknown %s = %+v, want minimal, degraded, with the crm's reason", i, phone, p)
		}
		k := ts.pop(t, "+14155550100")
		if k.Source != "stale" || !k.Degraded || !strings.Contains(string(k.Contact), "Ada") || len(k.Reasons) != 1 {
			t.Fatalf("pop %d of known number = %+v, want stale Ada with a reason", i, k)
		}
	}
	var st struct {
		Dependencies []struct {
			Name, Breaker string
		} `json:"dependencies"`
		Degraded bool `json:"degraded"`
	}
	ts.get(t, ts.admin+"/v1/status", &st)
	if st.Dependencies[0].Name != "crm" || st.Dependencies[0].Breaker != "open" || !st.Degraded {
		t.Fatalf("status = %+v, want the crm breaker open and degraded", st)
	}
	// The fault is injected beneath the chain: an open breaker means no call
	// even reaches the transport. Lift the fault; the CRM must still get
	// nothing while the breaker stays open.
	before := ts.crmHits(t, "")
	for range 20 {
		p := ts.pop(t, "+12125550104")
		if p.Source != "minimal" || !strings.Contains(strings.Join(p.Reasons, ","), "circuit open") {
			t.Fatalf("pop with breaker open = %+v, want minimal with reason circuit open", p)
		}
	}
	if after := ts.crmHits(t, ""); after != before {
		t.Fatalf("the CRM got %v calls while the breaker was open, want 0", after-before)
	}
}

// TestScreenPopWhileCRMHangs: with every CRM call hanging for a minute,
// screen pops are answered minimal, degraded because the wait was cut
// short (by the screen-pop budget, the CRM timeout, or the breaker the
// timeouts opened), not after the hang.
func TestScreenPopWhileCRMHangs(t *testing.T) {
	t.Parallel()
	cutShort := map[string]bool{"crm: budget exhausted": true, "crm: timeout": true, "crm: circuit open": true}
	ts := startDev(t, nil)
	ts.fault(t, `{"dependency":"crm","latency":"60s","duration":"10m"}`)
	for i := range 5 {
		// A pop that waited for the CRM would take the fault's minute:
		// the request's hang guard ends before that.
		ctx, cancel := context.WithTimeout(t.Context(), hangGuard/2)
		var p pop
		code := ts.postCtx(ctx, t, ts.data+"/v1/screen-pop", `{"phone":"+1212555020`+string(rune('0'+i))+`"}`, &p)
		cancel()
		if code != 200 || p.Source != "minimal" || !p.Degraded || len(p.Reasons) != 1 || !cutShort[p.Reasons[0]] {
			t.Fatalf("pop while the CRM hangs = %d %+v, want minimal, degraded, with a reason in %v", code, p, cutShort)
		}
	}
}

// TestStopFinishesInFlightRequests: SIGTERM (Stop) lets a screen pop that
// is waiting on a slow CRM finish with its answer.
func TestStopFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	// The CRM is slow, not failing: neither the budget nor the CRM timeout
	// may cut the pop short, so that its answer must come from the CRM.
	cfg.ScreenPop.Budget = config.Duration(hangGuard)
	cfg.Dependencies.CRM.Timeout = config.Duration(hangGuard)
	sc, err := New(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler), Dev: true, Getenv: func(k string) string {
		if k == "HOLDLINE_ADMIN_TOKEN" {
			return token
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts := &testSidecar{Sidecar: sc, data: "http://" + sc.Addr(), admin: "http://" + sc.AdminAddr()}
	// Ada's lookup is two CRM calls (contact, then records); the simulator
	// holds each for 300ms after counting it.
	if code := ts.post(t, ts.admin+"/dev/crm/mode", `{"mode":"ok","scope":"read","latency":"300ms"}`, nil); code != 200 {
		t.Fatalf("POST /dev/crm/mode = %d", code)
	}
	type result struct {
		p   pop
		err error
	}
	before := ts.crmHits(t, "generic.lookup")
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", ts.data+"/v1/screen-pop", strings.NewReader(`{"phone":"+14155550100"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var p pop
		err = json.NewDecoder(resp.Body).Decode(&p)
		done <- result{p, err}
	}()
	// Once the CRM has the contact lookup, the pop is in flight, waiting.
	waitUntil(t, "the pop's contact lookup to reach the CRM", func() (bool, string) {
		n := ts.crmHits(t, "generic.lookup")
		return n > before, fmt.Sprintf("%v lookups, as before the pop", n)
	})
	if err := sc.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(hangGuard):
		t.Fatalf("the in-flight pop got no answer within %v of Stop returning (hang guard)", hangGuard)
	}
	if r.err != nil || r.p.Source != "crm" {
		t.Fatalf("in-flight pop across Stop = %+v, %v; want it answered from the CRM", r.p, r.err)
	}
	if _, err := http.Get(ts.admin + "/healthz"); err == nil {
		t.Errorf("admin listener still answers after Stop")
	}
}
