package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Footprint is scenario 7: what the sidecar process costs at 1,000
// requests/s of mixed traffic.
type Footprint struct {
	Rate    int            `json:"rate"`
	Seconds float64        `json:"seconds_per_run"`
	Mix     map[string]int `json:"mix_percent"`
	Runs    []FootprintRun `json:"runs"`
}

// FootprintRun is one run: the sidecar's CPU and memory, read from /proc.
type FootprintRun struct {
	Latency
	CPUSeconds float64 `json:"cpu_s"`
	// CPUPer1000 is CPU seconds per 1,000 requests; Cores is the average
	// number of cores busy (CPU seconds per second).
	CPUPer1000 float64 `json:"cpu_s_per_1000"`
	Cores      float64 `json:"cores"`
	RSS        int64   `json:"rss_bytes"`
	HWM        int64   `json:"peak_rss_bytes"`
	// RSSAnon and RSSFile split RSS into anonymous memory (Go heap,
	// stacks, runtime) and file-backed pages (the binary, the outbox's
	// mmap); GoHeapInuse and GoSys are the runtime's own figures from
	// /metrics (go_memstats_heap_inuse_bytes, go_memstats_sys_bytes).
	RSSAnon     int64 `json:"rss_anon_bytes,omitempty"`
	RSSFile     int64 `json:"rss_file_bytes,omitempty"`
	GoHeapInuse int64 `json:"go_heap_inuse_bytes,omitempty"`
	GoSys       int64 `json:"go_sys_bytes,omitempty"`
}

func runFootprint(ctx context.Context, e *env) (*Footprint, error) {
	repeats, dur := 3, 8*time.Second
	if e.quick {
		repeats, dur = 1, 2*time.Second
	}
	res := &Footprint{Rate: 1000, Seconds: dur.Seconds(),
		Mix: map[string]int{"screen pop, cache hit": 70, "screen pop, CRM lookup": 10, "CRM write (record)": 10, "identity verify (JWT)": 10}}
	m, err := startMixedDeps(ctx, e)
	if err != nil {
		return nil, err
	}
	defer m.deps.stop()
	hl, err := e.startHoldline(ctx, "holdline", m.opts)
	if err != nil {
		return nil, err
	}
	defer hl.stop()
	base := "http://" + hl.addr
	if err := m.warm(ctx, base); err != nil {
		return nil, err
	}
	var misses phoneSeq
	misses.n.Store(5_000_000)
	for rep := range repeats {
		tr := mixedTargeter(base, mixedContacts, m.token, &misses, rep)
		l := attack(ctx, attackSpec{name: "mixed", targeter: tr, rate: res.Rate, duration: time.Second, okCodes: []int{200, 201, 202}})
		_ = l
		cpu0 := hl.cpu()
		l = attack(ctx, attackSpec{name: "mixed", targeter: tr, rate: res.Rate, duration: dur, okCodes: []int{200, 201, 202}})
		cpu := (hl.cpu() - cpu0).Seconds()
		rss, hwm := hl.memory()
		r := FootprintRun{Latency: l, CPUSeconds: cpu, RSS: rss, HWM: hwm}
		r.RSSAnon, r.RSSFile = hl.memoryParts()
		r.GoHeapInuse, r.GoSys = goMemstats(ctx, "http://"+hl.admin+"/metrics")
		if l.Requests > 0 {
			r.CPUPer1000 = cpu / (float64(l.Requests) / 1000)
		}
		if l.Seconds > 0 {
			r.Cores = cpu / l.Seconds
		}
		res.Runs = append(res.Runs, r)
		e.logf("footprint rep %d: %d requests (ok %d), holdline %.3f CPU s (%.3f per 1000, %.3f cores), RSS %.1f MiB (anon %.1f, file %.1f; Go heap in use %.1f, Go sys %.1f), peak %.1f MiB, p99 %.2f ms",
			rep+1, l.Requests, l.OK, cpu, r.CPUPer1000, r.Cores, float64(rss)/(1<<20), float64(r.RSSAnon)/(1<<20), float64(r.RSSFile)/(1<<20),
			float64(r.GoHeapInuse)/(1<<20), float64(r.GoSys)/(1<<20), float64(hwm)/(1<<20), l.P99)
	}
	return res, nil
}

// mixedTargeter sends, out of every 10 requests, 7 cache-hit screen
// pops, 1 screen pop of a new number (a CRM lookup), 1 CRM record write
// and 1 token verification.
func mixedTargeter(base string, contacts int, token string, misses *phoneSeq, rep int) vegeta.Targeter {
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	var i atomic.Int64
	verify := []byte(`{"token":"` + token + `"}`)
	return func(t *vegeta.Target) error {
		n := i.Add(1)
		t.Method, t.Header = http.MethodPost, hdr
		switch n % 10 {
		case 3:
			t.URL, t.Body = base+"/v1/screen-pop", []byte(`{"phone":"`+misses.next()+`"}`)
		case 6:
			t.URL = fmt.Sprintf("%s/v1/interactions/bench-%d-%d/record", base, rep, n)
			t.Body = []byte(`{"subject":"Call about invoice","contact_id":"101","channel":"voice"}`)
		case 9:
			t.URL, t.Body = base+"/v1/identity/verify", verify
		default:
			t.URL, t.Body = base+"/v1/screen-pop", []byte(`{"phone":"`+keyedPhone(int(n)%contacts)+`"}`)
		}
		return nil
	}
}

// mixedContacts is how many contacts the mixed traffic's cache hits cycle
// through.
const mixedContacts = 1000

// mixedDeps are the simulators behind the mixed traffic: the CRM (with
// mixedContacts extra contacts) and the OIDC provider whose token the
// identity requests verify.
type mixedDeps struct {
	deps  *proc
	opts  holdlineOpts
	token string
}

func startMixedDeps(ctx context.Context, e *env) (*mixedDeps, error) {
	crmAddr, _ := freeAddr()
	idpAddr, _ := freeAddr()
	tokFile := filepath.Join(e.dir("deps"), "token")
	deps, err := e.child("crm-sim", "deps", crmAddr, idpAddr, fmt.Sprint(mixedContacts), tokFile)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, deps, "http://"+crmAddr+"/dev/crm/mode", 200, 10*time.Second); err != nil {
		deps.stop()
		return nil, err
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		deps.stop()
		return nil, err
	}
	return &mixedDeps{deps: deps, opts: holdlineOpts{crmURL: "http://" + crmAddr, issuer: "http://" + idpAddr}, token: string(tok)}, nil
}

// warm fills the sidecar at base with every contact the cache hits ask
// for, and verifies a token and writes a record once.
func (m *mixedDeps) warm(ctx context.Context, base string) error {
	for i := range mixedContacts {
		if _, err := screenPop(ctx, base, keyedPhone(i)); err != nil {
			return err
		}
	}
	if b, err := post(ctx, base+"/v1/identity/verify", `{"token":"`+m.token+`"}`, http.StatusOK); err != nil || !strings.Contains(string(b), `"active":true`) {
		return fmt.Errorf("identity verify warm-up: %s %v", b, err)
	}
	_, err := post(ctx, base+"/v1/interactions/bench-warm/record", `{"subject":"Call","contact_id":"101"}`, http.StatusCreated)
	return err
}

// goMemstats reads go_memstats_heap_inuse_bytes and go_memstats_sys_bytes
// from a Prometheus text page (0 for what it cannot read).
func goMemstats(ctx context.Context, url string) (heapInuse, sys int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch name {
		case "go_memstats_heap_inuse_bytes":
			heapInuse = int64(f)
		case "go_memstats_sys_bytes":
			sys = int64(f)
		}
	}
	return heapInuse, sys
}
