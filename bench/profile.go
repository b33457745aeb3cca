package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sidecar"
	"github.com/holdline/holdline/internal/telemetry"
)

// Profile is where one scenario's holdline CPU and allocations go: the
// same sidecar wiring as `holdline serve` (config.LoadFile, sidecar.New,
// the JSON logger at the config's level) run in a child process of its
// own, under the scenario's open-loop load from the harness, profiled
// through net/http/pprof on a separate loopback port that only this
// child has. The load generator is in another process, so every sample
// is the sidecar's.
type Profile struct {
	// Scenario is "hop" (cache-missing screen pops) or "mixed" (the
	// footprint scenario's traffic).
	Scenario string  `json:"scenario"`
	Rate     int     `json:"rate"`
	Seconds  float64 `json:"seconds"`
	// File and AllocFile are the CPU profile and the allocation profile
	// (a delta over the same seconds).
	File      string `json:"file"`
	AllocFile string `json:"alloc_file,omitempty"`
	Command   string `json:"command"`
	// Top is `pprof -top` (by flat), TopCum the same by cumulative time,
	// AllocTop the allocations by bytes.
	Top      string  `json:"top"`
	TopCum   string  `json:"top_cum,omitempty"`
	AllocTop string  `json:"alloc_top,omitempty"`
	Latency  Latency `json:"latency"`
	// CPUSeconds is the sidecar's CPU time during the profile, from /proc.
	CPUSeconds float64 `json:"cpu_s,omitempty"`
}

// profileSpec is one profile to take.
type profileSpec struct {
	scenario string
	rate     int
	opts     holdlineOpts
	// warm runs once the sidecar is ready (fill the cache, sign in).
	warm     func(ctx context.Context, base string) error
	targeter func(base string) vegeta.Targeter
	okCodes  []int
}

func profileHop(ctx context.Context, e *env, outDir string) (*Profile, error) {
	upAddr, _ := freeAddr()
	up, err := e.child("upstream", "upstream", upAddr)
	if err != nil {
		return nil, err
	}
	defer up.stop()
	if err := waitHTTP(ctx, up, "http://"+upAddr+"/healthz", 200, 10*time.Second); err != nil {
		return nil, err
	}
	var phones phoneSeq
	phones.n.Store(9_000_000)
	return profileSidecar(ctx, e, outDir, profileSpec{
		scenario: "hop",
		rate:     2000,
		opts:     holdlineOpts{crmURL: "http://" + upAddr},
		targeter: func(base string) vegeta.Targeter { return hopTargeter(pathHoldline, base, &phones) },
	})
}

func profileMixed(ctx context.Context, e *env, outDir string) (*Profile, error) {
	m, err := startMixedDeps(ctx, e)
	if err != nil {
		return nil, err
	}
	defer m.deps.stop()
	var misses phoneSeq
	misses.n.Store(7_000_000)
	return profileSidecar(ctx, e, outDir, profileSpec{
		scenario: "mixed",
		rate:     1000,
		opts:     m.opts,
		warm:     m.warm,
		targeter: func(base string) vegeta.Targeter { return mixedTargeter(base, mixedContacts, m.token, &misses, 9) },
		okCodes:  []int{200, 201, 202},
	})
}

// profileSidecar starts the sidecar child, warms it up, and takes a CPU
// and an allocation profile over the same seconds of load.
func profileSidecar(ctx context.Context, e *env, outDir string, s profileSpec) (*Profile, error) {
	// Even with -quick (which takes profiles only when -profile is
	// given): fewer seconds give too few samples to read.
	const dur = 8 * time.Second
	addr, _ := freeAddr()
	admin, _ := freeAddr()
	pp, _ := freeAddr()
	name := "profile-" + s.scenario
	dir := e.dir(name)
	path := filepath.Join(dir, "holdline.yaml")
	if err := os.WriteFile(path, []byte(holdlineConfig(addr, admin, dir, s.opts)), 0o600); err != nil {
		return nil, err
	}
	sc, err := e.child(name, "sidecar", pp, path)
	if err != nil {
		return nil, err
	}
	defer sc.stop()
	if err := waitHTTP(ctx, sc, "http://"+admin+"/readyz", 200, 15*time.Second); err != nil {
		return nil, err
	}
	base := "http://" + addr
	if s.warm != nil {
		if err := s.warm(ctx, base); err != nil {
			return nil, err
		}
	}
	tr := s.targeter(base)
	attack(ctx, attackSpec{targeter: tr, rate: s.rate, duration: time.Second, okCodes: s.okCodes})

	p := &Profile{Scenario: s.scenario, Rate: s.rate, Seconds: dur.Seconds(),
		File:      filepath.Join(outDir, s.scenario+"-holdline.cpu.pprof"),
		AllocFile: filepath.Join(outDir, s.scenario+"-holdline.allocs.pprof")}
	secs := fmt.Sprint(int(dur.Seconds()))
	errs := make(chan error, 2)
	go func() { errs <- fetchTo(ctx, "http://"+pp+"/debug/pprof/profile?seconds="+secs, p.File) }()
	go func() { errs <- fetchTo(ctx, "http://"+pp+"/debug/pprof/allocs?seconds="+secs, p.AllocFile) }()
	cpu0 := sc.cpu()
	p.Latency = attack(ctx, attackSpec{targeter: tr, rate: s.rate, duration: dur, okCodes: s.okCodes})
	p.CPUSeconds = (sc.cpu() - cpu0).Seconds()
	if err := errors.Join(<-errs, <-errs); err != nil {
		return nil, err
	}
	top := []string{"tool", "pprof", "-top", "-nodecount=25"}
	p.Command = "go " + strings.Join(quoteArgs(append(top, p.File)), " ")
	if p.Top, err = goTool(ctx, append(top, p.File)...); err != nil {
		return nil, err
	}
	if p.TopCum, err = goTool(ctx, append(top, "-cum", p.File)...); err != nil {
		return nil, err
	}
	if p.AllocTop, err = goTool(ctx, append(top, "-sample_index=alloc_space", p.AllocFile)...); err != nil {
		return nil, err
	}
	e.logf("profile %s: %s and %s written; p50 %.2f p99 %.2f ms at %d rps, sidecar %.2f CPU s", s.scenario, p.File, p.AllocFile, p.Latency.P50, p.Latency.P99, p.Rate, p.CPUSeconds)
	return p, nil
}

func goTool(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// fetchTo saves the answer to GET url in path.
func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runSidecarChild is `bench child sidecar PPROF_ADDR CONFIG`: the sidecar
// as `holdline serve --config CONFIG` builds it, plus net/http/pprof on
// PPROF_ADDR (a mux of its own; the sidecar's listeners do not serve it),
// until SIGTERM.
func runSidecarChild(pprofAddr, path string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := config.LoadFile(path, os.Getenv)
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg.Log.Level)
	if err != nil {
		return err
	}
	sc, err := sidecar.New(ctx, cfg, sidecar.Options{Logger: log, Getenv: os.Getenv})
	if err != nil {
		return err
	}
	if err := sc.Start(ctx); err != nil {
		return errors.Join(err, sc.Stop())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return errors.Join(err, sc.Stop())
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	_ = srv.Close()
	return sc.Stop()
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
