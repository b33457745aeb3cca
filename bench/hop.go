package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Hop is scenario 1: the latency one proxy hop adds, measured side by
// side in one run.
type Hop struct {
	// Rates are the offered loads, requests per second.
	Rates []int `json:"rates"`
	// Paths in display order; "direct" is the baseline.
	Paths []string `json:"paths"`
	// Runs[rate][path] holds one entry per repeat.
	Runs map[string]map[string][]HopRun `json:"runs"`
	// BodyBytes is the size of the CRM stand-in's answer.
	BodyBytes int `json:"body_bytes"`
	// HoldlineBytes is the size of holdline's screen-pop answer.
	HoldlineBytes int               `json:"holdline_bytes"`
	Seconds       float64           `json:"seconds_per_run"`
	Skipped       map[string]string `json:"skipped,omitempty"`
}

// HopRun is one open-loop run and the CPU seconds each process used
// during it.
type HopRun struct {
	Latency
	CPU map[string]float64 `json:"cpu_s"`
}

// Path names of scenario 1.
const (
	pathDirect   = "direct"
	pathNginx    = "nginx"
	pathGoProxy  = "go-reverseproxy"
	pathHoldline = "holdline"
)

func runHop(ctx context.Context, e *env) (*Hop, error) {
	res := &Hop{Rates: []int{1000, 2000}, Runs: map[string]map[string][]HopRun{}, BodyBytes: upstreamBodySize, Skipped: map[string]string{}}
	repeats, dur, warm := 3, 5*time.Second, time.Second
	if e.quick {
		repeats, dur, warm = 1, 1500*time.Millisecond, 300*time.Millisecond
	}
	res.Seconds = dur.Seconds()

	upAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	up, err := e.child("upstream", "upstream", upAddr)
	if err != nil {
		return nil, err
	}
	defer up.stop()
	if err := waitHTTP(ctx, up, "http://"+upAddr+"/healthz", 200, 10*time.Second); err != nil {
		return nil, err
	}

	targets := map[string]string{pathDirect: "http://" + upAddr}
	procs := map[string]*proc{}
	res.Paths = []string{pathDirect}

	if e.nginx != "" {
		addr, _ := freeAddr()
		ng, err := e.startNginx("nginx", addr, nginxConf(addr, upAddr, 64, nginxPlain))
		if err != nil {
			return nil, err
		}
		defer ng.stop()
		targets[pathNginx], procs[pathNginx] = "http://"+addr, ng
		res.Paths = append(res.Paths, pathNginx)
	} else {
		res.Skipped[pathNginx] = "nginx not available"
	}

	rpAddr, _ := freeAddr()
	rp, err := e.child("go-reverseproxy", "rproxy", rpAddr, "http://"+upAddr)
	if err != nil {
		return nil, err
	}
	defer rp.stop()
	if err := waitHTTP(ctx, rp, "http://"+rpAddr+"/healthz", 200, 10*time.Second); err != nil {
		return nil, err
	}
	targets[pathGoProxy], procs[pathGoProxy] = "http://"+rpAddr, rp
	res.Paths = append(res.Paths, pathGoProxy)

	hl, err := e.startHoldline(ctx, "holdline", holdlineOpts{crmURL: "http://" + upAddr})
	if err != nil {
		return nil, err
	}
	defer hl.stop()
	targets[pathHoldline], procs[pathHoldline] = "http://"+hl.addr, hl.proc
	res.Paths = append(res.Paths, pathHoldline)
	if b, err := screenPop(ctx, "http://"+hl.addr, phoneAt(0)); err == nil {
		res.HoldlineBytes = len(b)
		if !strings.Contains(string(b), `"source":"crm"`) {
			return nil, fmt.Errorf("holdline screen pop did not reach the CRM: %s", b)
		}
	} else {
		return nil, err
	}

	var phones phoneSeq
	phones.n.Store(1)
	for rep := range repeats {
		for _, rate := range res.Rates {
			key := fmt.Sprint(rate)
			if res.Runs[key] == nil {
				res.Runs[key] = map[string][]HopRun{}
			}
			for _, path := range res.Paths {
				tr := hopTargeter(path, targets[path], &phones)
				attack(ctx, attackSpec{name: path, targeter: tr, rate: rate, duration: warm})
				m := newCPUMeter(up, procs[path])
				l := attack(ctx, attackSpec{name: path, targeter: tr, rate: rate, duration: dur})
				cpu := m.since()
				if p := procs[path]; p != nil {
					cpu["proxy"] = cpu[p.name]
					delete(cpu, p.name)
				}
				cpu["upstream"] = cpu[up.name]
				res.Runs[key][path] = append(res.Runs[key][path], HopRun{Latency: l, CPU: cpu})
				e.logf("hop  rep %d  %5d rps  %-16s p50 %6.2f  p90 %6.2f  p99 %7.2f  p99.9 %7.2f ms  ok %d/%d", rep+1, rate, path, l.P50, l.P90, l.P99, l.P999, l.OK, l.Requests)
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
			}
		}
	}
	return res, nil
}

// hopTargeter requests a number nobody asked for before, so holdline's
// cache never answers: one request in is one CRM request out on every
// path. holdline gets the screen-pop POST; the others get the CRM lookup
// GET it sends.
func hopTargeter(path, base string, phones *phoneSeq) vegeta.Targeter {
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	return func(t *vegeta.Target) error {
		p := phones.next()
		if path == pathHoldline {
			t.Method, t.URL, t.Header = http.MethodPost, base+"/v1/screen-pop", hdr
			t.Body = []byte(`{"phone":"` + p + `"}`)
			return nil
		}
		t.Method, t.URL = http.MethodGet, base+"/contacts?phone="+url.QueryEscape(p)
		return nil
	}
}
