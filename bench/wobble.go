package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Wobble is scenario 4: screen pops while the CRM is sick, through
// holdline and through nginx configured for stale-if-error, each with a
// warm cache of the same keys and the same freshness (1 s).
type Wobble struct {
	Rate     int      `json:"rate"`
	Keys     int      `json:"keys"`
	BudgetMS float64  `json:"budget_ms"`
	Seconds  float64  `json:"seconds_per_run"`
	SteadyS  float64  `json:"steady_after_s"`
	Modes    []string `json:"modes"`
	Targets  []string `json:"targets"`
	// Runs[mode][target], one per repeat.
	Runs    map[string]map[string][]WobbleRun `json:"runs"`
	Skipped map[string]string                 `json:"skipped,omitempty"`
}

// WobbleRun is one run against a sick CRM.
type WobbleRun struct {
	Latency
	// CRMCalls is how many requests reached the sick CRM during the run
	// (the simulator's hit counters), CRMLookups the lookups among them.
	CRMCalls   int64 `json:"crm_calls"`
	CRMLookups int64 `json:"crm_lookups"`
	// SteadyCRMCalls is CRMCalls from SteadyS on (once a breaker has had
	// time to open).
	SteadyCRMCalls int64              `json:"steady_crm_calls"`
	Sources        map[string]int     `json:"sources,omitempty"`
	CPU            map[string]float64 `json:"cpu_s"`
}

// wobbleModes are the CRM simulator's fault modes, in run order.
var wobbleModes = []struct{ name, json string }{
	{"hang 10s", `{"mode":"hang","hang_max":"10s"}`},
	{"503 on 50%", `{"mode":"flap","flap_rate":0.5,"seed":1}`},
	{"connection reset", `{"mode":"reset"}`},
}

func runWobble(ctx context.Context, e *env) (*Wobble, error) {
	repeats, dur, steady := 3, 6*time.Second, 3*time.Second
	if e.quick {
		repeats, dur, steady = 1, 2500*time.Millisecond, 1500*time.Millisecond
	}
	res := &Wobble{Rate: 500, Keys: 200, BudgetMS: 300, Seconds: dur.Seconds(), SteadyS: steady.Seconds(),
		Runs: map[string]map[string][]WobbleRun{}, Skipped: map[string]string{}, Targets: []string{targetHoldline}}
	if e.nginx != "" {
		res.Targets = append(res.Targets, pathNginx)
	} else {
		res.Skipped[pathNginx] = "nginx not available"
	}
	for _, m := range wobbleModes {
		res.Modes = append(res.Modes, m.name)
		res.Runs[m.name] = map[string][]WobbleRun{}
	}
	for rep := range repeats {
		for _, m := range wobbleModes {
			for _, target := range res.Targets {
				r, err := wobbleRun(ctx, e, res, target, m.json, dur, steady)
				if err != nil {
					return res, fmt.Errorf("%s, %s: %w", m.name, target, err)
				}
				res.Runs[m.name][target] = append(res.Runs[m.name][target], r)
				within := 100 * float64(r.Within) / float64(max(r.Requests, 1))
				e.logf("wobble rep %d %-16s %-8s ok %5.1f%% within %5.1f%% p50 %7.2f p99 %7.2f ms; steady p99 %7.2f; CRM calls %d", rep+1, m.name, target,
					100*float64(r.OK)/float64(max(r.Requests, 1)), within, r.P50, r.P99, r.Steady.P99, r.CRMCalls)
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
			}
		}
	}
	return res, nil
}

// wobbleRun starts a fresh simulator and a fresh target, warms the
// target's cache with every key, makes the CRM sick and sends load.
func wobbleRun(ctx context.Context, e *env, w *Wobble, target, mode string, dur, steady time.Duration) (WobbleRun, error) {
	crmAddr, _ := freeAddr()
	idpAddr, _ := freeAddr()
	deps, err := e.child("crm-sim", "deps", crmAddr, idpAddr, fmt.Sprint(w.Keys), filepath.Join(e.dir("deps"), "token"))
	if err != nil {
		return WobbleRun{}, err
	}
	defer deps.stop()
	crmURL := "http://" + crmAddr
	if err := waitHTTP(ctx, deps, crmURL+"/dev/crm/mode", 200, 10*time.Second); err != nil {
		return WobbleRun{}, err
	}

	var tp *proc
	var tr vegeta.Targeter
	var warm func(i int) error
	switch target {
	case targetHoldline:
		hl, err := e.startHoldline(ctx, "holdline", holdlineOpts{crmURL: crmURL, freshTTL: "1s"})
		if err != nil {
			return WobbleRun{}, err
		}
		defer hl.stop()
		tp, tr = hl.proc, cacheHitTargeter("http://"+hl.addr, w.Keys)
		warm = func(i int) error { _, err := screenPop(ctx, "http://"+hl.addr, keyedPhone(i)); return err }
	case pathNginx:
		addr, _ := freeAddr()
		ng, err := e.startNginx("nginx", addr, nginxConf(addr, crmAddr, 32, nginxStale))
		if err != nil {
			return WobbleRun{}, err
		}
		defer ng.stop()
		tp, tr = ng, lookupTargeter("http://"+addr, w.Keys)
		warm = func(i int) error {
			_, err := get(ctx, "http://"+addr+"/contacts?phone="+url.QueryEscape(keyedPhone(i)))
			return err
		}
	}
	for i := range w.Keys {
		if err := warm(i); err != nil {
			return WobbleRun{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	before, err := crmHits(ctx, crmURL)
	if err != nil {
		return WobbleRun{}, err
	}
	if _, err := post(ctx, crmURL+"/dev/crm/mode", mode, http.StatusOK); err != nil {
		return WobbleRun{}, err
	}
	m := newCPUMeter(tp)
	var sources *sourceCounter
	if target == targetHoldline {
		sources = &sourceCounter{}
	}
	mid := make(chan map[string]int64, 1)
	go func() {
		select {
		case <-time.After(steady):
		case <-ctx.Done():
		}
		h, _ := crmHits(ctx, crmURL)
		mid <- h
	}()
	l := attack(ctx, attackSpec{name: target, targeter: tr, rate: w.Rate, duration: dur,
		budget: time.Duration(w.BudgetMS) * time.Millisecond, steadyAfter: steady, timeout: 15 * time.Second, observe: sources.observe})
	cpu := m.since()
	cpu["proxy"] = cpu[tp.name]
	delete(cpu, tp.name)
	after, err := crmHits(ctx, crmURL)
	if err != nil {
		return WobbleRun{}, err
	}
	r := WobbleRun{Latency: l, CPU: cpu}
	for k, v := range after {
		r.CRMCalls += v - before[k]
	}
	r.CRMLookups = after["generic.lookup"] - before["generic.lookup"]
	if m := <-mid; m != nil {
		for k, v := range after {
			r.SteadyCRMCalls += v - m[k]
		}
	}
	if sources != nil {
		r.Sources = sources.counts()
	}
	return r, nil
}

// lookupTargeter cycles the CRM lookup GET over the warmed numbers.
func lookupTargeter(base string, keys int) vegeta.Targeter {
	var i atomic.Int64
	urls := make([]string, keys)
	for k := range urls {
		urls[k] = base + "/contacts?phone=" + url.QueryEscape(keyedPhone(k))
	}
	return func(t *vegeta.Target) error {
		t.Method, t.URL = http.MethodGet, urls[int(i.Add(1))%keys]
		return nil
	}
}

// crmHits reads the CRM simulator's hit counters.
func crmHits(ctx context.Context, base string) (map[string]int64, error) {
	b, err := get(ctx, base+"/dev/crm/stats")
	if err != nil {
		return nil, err
	}
	var s struct {
		Hits map[string]int64 `json:"hits"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("crm stats: %w", err)
	}
	return s.Hits, nil
}

var sourceRE = regexp.MustCompile(`"source":"([a-z]+)"`)

// sourceCounter counts screen-pop answers by source (crm, cache, stale,
// minimal).
type sourceCounter struct {
	crm, cache, stale, minimal, other atomic.Int64
}

func (s *sourceCounter) observe(r *vegeta.Result) {
	if s == nil {
		return
	}
	m := sourceRE.FindSubmatch(r.Body)
	if m == nil {
		s.other.Add(1)
		return
	}
	switch string(m[1]) {
	case "crm":
		s.crm.Add(1)
	case "cache":
		s.cache.Add(1)
	case "stale":
		s.stale.Add(1)
	case "minimal":
		s.minimal.Add(1)
	default:
		s.other.Add(1)
	}
}

func (s *sourceCounter) counts() map[string]int {
	out := map[string]int{}
	for k, v := range map[string]int64{"crm": s.crm.Load(), "cache": s.cache.Load(), "stale": s.stale.Load(), "minimal": s.minimal.Load(), "none": s.other.Load()} {
		if v > 0 {
			out[k] = int(v)
		}
	}
	return out
}
