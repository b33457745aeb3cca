package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// CacheHit is scenario 3: the highest offered rate at which screen-pop
// cache hits keep p99 under 5 ms, against a bare net/http handler that
// answers the same bytes (the floor of this machine, load generator
// included).
type CacheHit struct {
	P99LimitMS float64 `json:"p99_limit_ms"`
	Keys       int     `json:"keys"`
	BodyBytes  int     `json:"body_bytes"`
	// Max[target] is the highest passing rate of each repeat.
	Max map[string][]int `json:"max_rps"`
	// Steps[target] lists every step of every repeat.
	Steps   map[string][]CacheHitStep `json:"steps"`
	Seconds float64                   `json:"seconds_per_step"`
}

// CacheHitStep is one step of the ladder.
type CacheHitStep struct {
	Repeat int `json:"repeat"`
	Latency
	Pass bool               `json:"pass"`
	CPU  map[string]float64 `json:"cpu_s"`
}

const (
	targetHoldline = "holdline"
	targetBare     = "bare-handler"
)

func runCacheHit(ctx context.Context, e *env) (*CacheHit, error) {
	repeats, dur, from, step := 3, 3*time.Second, 1000, 1.5
	if e.quick {
		// Coarser steps from a higher start: a smoke test of the ceiling.
		repeats, dur, from, step = 1, time.Second, 2000, 2
	}
	res := &CacheHit{P99LimitMS: 5, Keys: 100, Max: map[string][]int{}, Steps: map[string][]CacheHitStep{}, Seconds: dur.Seconds()}

	upAddr, _ := freeAddr()
	up, err := e.child("upstream", "upstream", upAddr)
	if err != nil {
		return nil, err
	}
	defer up.stop()
	if err := waitHTTP(ctx, up, "http://"+upAddr+"/healthz", 200, 10*time.Second); err != nil {
		return nil, err
	}
	hl, err := e.startHoldline(ctx, "holdline", holdlineOpts{crmURL: "http://" + upAddr})
	if err != nil {
		return nil, err
	}
	defer hl.stop()
	base := "http://" + hl.addr
	var body []byte
	for i := range res.Keys {
		if _, err := screenPop(ctx, base, keyedPhone(i)); err != nil {
			return nil, err
		}
	}
	if body, err = screenPop(ctx, base, keyedPhone(0)); err != nil {
		return nil, err
	}
	if !strings.Contains(string(body), `"source":"cache"`) {
		return nil, fmt.Errorf("warm-up: second pop is not a cache hit: %s", body)
	}
	res.BodyBytes = len(body)
	bodyFile := filepath.Join(e.dir("bare"), "body.json")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		return nil, err
	}
	bareAddr, _ := freeAddr()
	bare, err := e.child("bare-handler", "bare", bareAddr, bodyFile)
	if err != nil {
		return nil, err
	}
	defer bare.stop()
	if err := waitTCP(bare, bareAddr, 10*time.Second); err != nil {
		return nil, err
	}

	targets := []struct {
		name string
		base string
		p    *proc
	}{{targetHoldline, base, hl.proc}, {targetBare, "http://" + bareAddr, bare}}
	for rep := range repeats {
		for _, t := range targets {
			best := 0
			for rate := from; rate <= 64000; rate = int(float64(rate) * step) {
				tr := cacheHitTargeter(t.base, res.Keys)
				m := newCPUMeter(t.p)
				l := attack(ctx, attackSpec{name: t.name, targeter: tr, rate: rate, duration: dur, timeout: 5 * time.Second})
				cpu := m.since()
				cpu["server"] = cpu[t.p.name]
				delete(cpu, t.p.name)
				pass := l.P99 < res.P99LimitMS && l.OK >= l.Requests*999/1000 && l.Achieved >= 0.95*float64(rate)
				res.Steps[t.name] = append(res.Steps[t.name], CacheHitStep{Repeat: rep + 1, Latency: l, Pass: pass, CPU: cpu})
				e.logf("cachehit rep %d %-13s %6d rps: achieved %7.0f p99 %6.2f ms ok %d/%d pass=%v", rep+1, t.name, rate, l.Achieved, l.P99, l.OK, l.Requests, pass)
				if !pass || ctx.Err() != nil {
					break
				}
				best = rate
				time.Sleep(200 * time.Millisecond)
			}
			res.Max[t.name] = append(res.Max[t.name], best)
		}
	}
	return res, nil
}

// cacheHitTargeter cycles POST /v1/screen-pop over the warmed numbers.
func cacheHitTargeter(base string, keys int) vegeta.Targeter {
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	var i atomic.Int64
	bodies := make([][]byte, keys)
	for k := range bodies {
		bodies[k] = []byte(`{"phone":"` + keyedPhone(k) + `"}`)
	}
	return func(t *vegeta.Target) error {
		t.Method, t.URL, t.Header = http.MethodPost, base+"/v1/screen-pop", hdr
		t.Body = bodies[int(i.Add(1))%keys]
		return nil
	}
}
