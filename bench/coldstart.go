package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ColdStart is scenario 8: from exec of the real binary to /readyz 200,
// with every upstream down (CRM, identity provider and Redis point at a
// closed loopback port).
type ColdStart struct {
	// MS is each start's time to ready, in milliseconds.
	MS []float64 `json:"ms"`
	// RSS is the resident set just after ready, per start.
	RSS []int64 `json:"rss_bytes"`
	// ExecMS is exec to exit of `holdline version`, per run: the floor of
	// process start and package initialisation.
	ExecMS []float64 `json:"exec_version_ms"`
	// BinaryBytes is the size of the holdline binary the run used (built
	// as `make build` builds it unless -holdline named another).
	BinaryBytes int64 `json:"binary_bytes,omitempty"`
}

func runColdStart(ctx context.Context, e *env) (*ColdStart, error) {
	n := 7
	if e.quick {
		n = 3
	}
	res := &ColdStart{}
	if fi, err := os.Stat(e.holdline); err == nil {
		res.BinaryBytes = fi.Size()
	}
	dead := "http://127.0.0.1:1"
	for i := range n {
		addr, _ := freeAddr()
		admin, _ := freeAddr()
		dir := e.dir("coldstart")
		cfg := holdlineConfig(addr, admin, dir, holdlineOpts{crmURL: dead, issuer: dead, redis: "127.0.0.1:1"})
		if err := os.WriteFile(filepath.Join(dir, "holdline.yaml"), []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		start := time.Now()
		p, err := startProc("holdline", dir, e.holdline, "serve", "--config", filepath.Join(dir, "holdline.yaml"))
		if err != nil {
			return nil, err
		}
		err = waitHTTPFast(ctx, p, "http://"+admin+"/readyz", 10*time.Second)
		elapsed := time.Since(start)
		rss, _ := p.memory()
		p.stop()
		if err != nil {
			return nil, err
		}
		ms := float64(elapsed.Microseconds()) / 1000
		res.MS = append(res.MS, ms)
		res.RSS = append(res.RSS, rss)
		e.logf("coldstart %d: ready in %.1f ms, RSS %.1f MiB", i+1, ms, float64(rss)/(1<<20))
	}
	for range n {
		start := time.Now()
		if err := exec.CommandContext(ctx, e.holdline, "version").Run(); err != nil {
			return nil, fmt.Errorf("holdline version: %w", err)
		}
		res.ExecMS = append(res.ExecMS, float64(time.Since(start).Microseconds())/1000)
	}
	e.logf("coldstart: holdline version runs in a median of %.1f ms", median(res.ExecMS))
	return res, nil
}
