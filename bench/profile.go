package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sidecar"
)

// Profile is where the time goes on scenario 1's holdline path: a CPU
// profile of the harness process running the same sidecar in-process
// (sidecar.New, as `holdline serve` does) under the same open-loop load.
// The load generator shares the profile; the focused view keeps only
// stacks through holdline's own packages.
type Profile struct {
	Rate    int     `json:"rate"`
	Seconds float64 `json:"seconds"`
	File    string  `json:"file"`
	Command string  `json:"command"`
	Top     string  `json:"top"`
	Latency Latency `json:"latency"`
}

func profileHop(ctx context.Context, e *env, outDir string) (*Profile, error) {
	dur := 8 * time.Second
	if e.quick {
		dur = 3 * time.Second
	}
	upAddr, _ := freeAddr()
	up, err := e.child("upstream", "upstream", upAddr)
	if err != nil {
		return nil, err
	}
	defer up.stop()
	if err := waitHTTP(ctx, up, "http://"+upAddr+"/healthz", 200, 10*time.Second); err != nil {
		return nil, err
	}
	sc, err := startInProcess(ctx, e, holdlineOpts{crmURL: "http://" + upAddr})
	if err != nil {
		return nil, err
	}
	defer sc.Stop()

	p := &Profile{Rate: 2000, Seconds: dur.Seconds(), File: filepath.Join(outDir, "hop-holdline.cpu.pprof")}
	var phones phoneSeq
	phones.n.Store(9_000_000)
	tr := hopTargeter(pathHoldline, "http://"+sc.Addr(), &phones)
	attack(ctx, attackSpec{targeter: tr, rate: p.Rate, duration: time.Second})
	f, err := os.Create(p.File)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	p.Latency = attack(ctx, attackSpec{targeter: tr, rate: p.Rate, duration: dur})
	pprof.StopCPUProfile()
	f.Close()
	args := []string{"tool", "pprof", "-top", "-nodecount=30", "-focus=github.com/holdline/holdline", p.File}
	p.Command = "go " + strings.Join(quoteArgs(args), " ")
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w\n%s", err, out)
	}
	p.Top = string(out)
	e.logf("profile: %s written; in-process p50 %.2f p99 %.2f ms at %d rps", p.File, p.Latency.P50, p.Latency.P99, p.Rate)
	return p, nil
}

// startInProcess runs the sidecar wiring of `holdline serve` (sidecar.New)
// inside the harness, with the config the real binary would get.
func startInProcess(ctx context.Context, e *env, o holdlineOpts) (*sidecar.Sidecar, error) {
	addr, _ := freeAddr()
	admin, _ := freeAddr()
	dir := e.dir("inprocess")
	path := filepath.Join(dir, "holdline.yaml")
	if err := os.WriteFile(path, []byte(holdlineConfig(addr, admin, dir, o)), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.LoadFile(path, os.Getenv)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	sc, err := sidecar.New(ctx, cfg, sidecar.Options{Logger: log, AllowLoopback: true, Getenv: func(string) string { return "" }})
	if err != nil {
		return nil, err
	}
	if err := sc.Start(ctx); err != nil {
		_ = sc.Stop()
		return nil, err
	}
	return sc, nil
}
