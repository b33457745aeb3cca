package sidecar

import (
	"bytes"
	"encoding/json"
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
	req, _ := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader(body))
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

func (ts *testSidecar) pop(t *testing.T, phone string) (pop, time.Duration) {
	t.Helper()
	var p pop
	start := time.Now()
	if code := ts.post(t, ts.data+"/v1/screen-pop", `{"phone":"`+phone+`"}`, &p); code != 200 {
		t.Fatalf("screen pop %s = %d", phone, code)
	}
	return p, time.Since(start)
}

func (ts *testSidecar) crmHits(t *testing.T) float64 {
	t.Helper()
	var st struct {
		Hits map[string]float64 `json:"hits"`
	}
	ts.get(t, ts.admin+"/dev/crm/stats", &st)
	n := 0.0
	for _, v := range st.Hits {
		n += v
	}
	return n
}

func (ts *testSidecar) fault(t *testing.T, body string) {
	t.Helper()
	if code := ts.post(t, ts.admin+"/v1/admin/faults", body, nil); code != 201 {
		t.Fatalf("add fault %s = %d", body, code)
	}
}

// budget plus a scheduling margin for a shared 2-core machine.
const withinBudget = 300*time.Millisecond + 150*time.Millisecond

func TestScreenPopFreshThenCache(t *testing.T) {
	ts := startDev(t, nil)
	p, _ := ts.pop(t, "(415) 555-0100")
	if p.Source != "crm" || p.Degraded || !strings.Contains(string(p.Contact), "Ada Lovelace") || len(p.Records) != 1 {
		t.Fatalf("first pop = %+v, want source crm with Ada and one open record", p)
	}
	p, _ = ts.pop(t, "+14155550100")
	if p.Source != "cache" || p.Degraded {
		t.Fatalf("repeat pop = %+v, want source cache", p)
	}
	if strings.Contains(ts.logs.String(), "4155550100") {
		t.Errorf("logs contain the whole phone number")
	}
}

// TestScreenPopWhileCRMFails: with the CRM answering 503, known numbers are
// served stale and unknown ones minimal, all within budget; the breaker
// opens and then the CRM sees no calls until it half-opens.
func TestScreenPopWhileCRMFails(t *testing.T) {
	ts := startDev(t, func(c *config.Config) {
		c.Cache.FreshTTL = config.Duration(50 * time.Millisecond)
		c.Dependencies.CRM.Breaker.OpenFor = config.Duration(time.Minute)
	})
	if p, _ := ts.pop(t, "+14155550100"); p.Source != "crm" {
		t.Fatalf("warm-up pop = %+v", p)
	}
	time.Sleep(60 * time.Millisecond) // let the entry go stale
	ts.fault(t, `{"dependency":"crm","error_rate":1,"status":503,"duration":"60s"}`)

	for i := range 30 {
		phone := "+1212555" + []string{"0101", "0102", "0103"}[i%3]
		p, d := ts.pop(t, phone)
		if p.Source != "minimal" || !p.Degraded || len(p.Reasons) == 0 || d > withinBudget {
			t.Fatalf("pop %d of unknown %s = %+v in %v, want minimal, degraded, with reasons, within budget", i, phone, p, d)
		}
		k, d := ts.pop(t, "+14155550100")
		if k.Source != "stale" || !k.Degraded || !strings.Contains(string(k.Contact), "Ada") || d > withinBudget {
			t.Fatalf("pop %d of known number = %+v in %v, want stale Ada within budget", i, k, d)
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
	before := ts.crmHits(t)
	for range 20 {
		p, _ := ts.pop(t, "+12125550104")
		if p.Source != "minimal" || !strings.Contains(strings.Join(p.Reasons, ","), "circuit open") {
			t.Fatalf("pop with breaker open = %+v, want minimal with reason circuit open", p)
		}
	}
	if after := ts.crmHits(t); after != before {
		t.Fatalf("the CRM got %v calls while the breaker was open, want 0", after-before)
	}
}

func TestScreenPopWhileCRMHangs(t *testing.T) {
	ts := startDev(t, nil)
	ts.fault(t, `{"dependency":"crm","latency":"10s","duration":"60s"}`)
	for i := range 5 {
		p, d := ts.pop(t, "+1212555020"+string(rune('0'+i)))
		if p.Source != "minimal" || d > withinBudget {
			t.Fatalf("pop while the CRM hangs = %+v in %v, want minimal within budget", p, d)
		}
	}
}

// TestStopFinishesInFlightRequests: SIGTERM (Stop) lets a screen pop that
// is waiting on a slow CRM finish with its answer.
func TestStopFinishesInFlightRequests(t *testing.T) {
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
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
	// Ada's lookup is two CRM calls (contact, then records): 2 x 100ms.
	ts.fault(t, `{"dependency":"crm","latency":"100ms","duration":"60s"}`)
	type result struct {
		p   pop
		err error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", ts.data+"/v1/screen-pop", strings.NewReader(`{"phone":"+14155550100"}`))
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
	time.Sleep(50 * time.Millisecond) // the pop is now waiting on the CRM
	if err := sc.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	r := <-done
	if r.err != nil || r.p.Source != "crm" {
		t.Fatalf("in-flight pop across Stop = %+v, %v; want it answered from the CRM", r.p, r.err)
	}
	if _, err := http.Get(ts.admin + "/healthz"); err == nil {
		t.Errorf("admin listener still answers after Stop")
	}
}
