package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Results is everything one run measured; results.json is this, and the
// report is rendered from it alone (Render), so a report can be rebuilt
// from a saved JSON file.
type Results struct {
	Meta      Meta     `json:"meta"`
	Scenarios []string `json:"scenarios"`

	Hop        *Hop        `json:"hop,omitempty"`
	Profile    *Profile    `json:"profile,omitempty"`
	Policy     *GoBench    `json:"policy,omitempty"`
	CacheHit   *CacheHit   `json:"cache_hit,omitempty"`
	Wobble     *Wobble     `json:"wobble,omitempty"`
	Enqueue    *GoBench    `json:"enqueue,omitempty"`
	Fleet      *Fleet      `json:"fleet,omitempty"`
	Recordings *Recordings `json:"recordings,omitempty"`
	Footprint  *Footprint  `json:"footprint,omitempty"`
	// ProfileMixed is the footprint scenario's profile (Profile is
	// scenario 1's).
	ProfileMixed *Profile   `json:"profile_mixed,omitempty"`
	ColdStart    *ColdStart `json:"cold_start,omitempty"`
	Soak         *Soak      `json:"soak,omitempty"`

	// Notes are caveats found during the run (skipped rows, failures).
	Notes []string `json:"notes,omitempty"`
	// Changes is bench/changes.md as the run found it: each change's
	// before/after, measured A/B against the commit before it (the method
	// and figures are written there, not measured in this run).
	Changes string `json:"changes,omitempty"`
}

// Meta identifies the machine, the code and the run.
type Meta struct {
	Date      string  `json:"date"`
	Commit    string  `json:"commit"`
	Dirty     bool    `json:"dirty"`
	GoVersion string  `json:"go_version"`
	Kernel    string  `json:"kernel"`
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	Load      string  `json:"loadavg_at_start"`
	Nginx     string  `json:"nginx,omitempty"`
	Quick     bool    `json:"quick"`
	Command   string  `json:"command"`
	Seconds   float64 `json:"seconds"`
}

func collectMeta(ctx context.Context, quick bool, args []string) Meta {
	m := Meta{
		Date:      time.Now().UTC().Format(time.RFC3339),
		GoVersion: runtime.Version(),
		Cores:     runtime.NumCPU(),
		Quick:     quick,
		Command:   strings.TrimSpace("go run ./bench " + strings.Join(args, " ")),
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	// Only tracked changes make the tree dirty; other people's untracked
	// work in a shared checkout does not.
	if out, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		m.Dirty = len(strings.TrimSpace(string(out))) > 0
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}
