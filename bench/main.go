// Command bench is holdline's load and comparison harness (issues 13 and 26). It
// starts everything it needs on loopback (the real holdline binary, nginx,
// a Go reverse proxy, simulators), runs the scenarios side by side on this
// machine, and writes docs/benchmarks.md, docs/benchmarks.json and
// bench/out/results.json.
//
//	make bench            # full run, under 10 minutes
//	make bench QUICK=1    # one repeat, short runs, under 2 minutes
//	go run ./bench -only hop,wobble
//
// Run it from the repository root. Targets are goals the report measures
// against, never assertions: the harness fails only when it cannot
// measure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		if err := runChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// extraScenarios run only when -only names them (make soak).
var extraScenarios = []string{"soak"}

// scenarioNames in run order; -only selects among them.
var scenarioNames = []string{"hop", "policy", "cachehit", "wobble", "enqueue", "fleet", "recordings", "footprint", "coldstart"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "one repeat and short runs (under 2 minutes); not for quoting")
	only := fs.String("only", "", "comma-separated scenarios to run: "+strings.Join(scenarioNames, ","))
	outDir := fs.String("out", "bench/out", "directory for results.json and profiles")
	doc := fs.String("doc", "docs/benchmarks.md", "the report to write; empty for none")
	docJSON := fs.String("doc-json", "docs/benchmarks.json", "a copy of results.json next to the report; empty for none")
	holdline := fs.String("holdline", "", "use this holdline binary instead of building ./cmd/holdline")
	profile := fs.Bool("profile", true, "take CPU and allocation profiles of the sidecar under scenario 1's and the footprint scenario's load (off with -quick unless set)")
	render := fs.String("render", "", "measure nothing: rewrite -doc from this results.json")
	soakDuration := fs.Duration("soak-duration", 30*time.Minute, "how long the soak scenario runs (-only soak)")
	soakHeap := fs.String("soak-heap", "", "run the soak's sidecar in this process and write heap profiles into this directory every minute")
	soakRate := fs.Int("soak-rate", 1000, "requests per second of the soak scenario's mixed traffic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *render != "" {
		b, err := os.ReadFile(*render)
		if err != nil {
			return err
		}
		var res Results
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("%s: %w", *render, err)
		}
		res.Changes = readChanges()
		return os.WriteFile(*doc, []byte(Render(&res)), 0o644)
	}
	if *quick {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "profile" })
		*profile = *profile && set
	}
	selected := scenarioNames
	if *only != "" {
		selected = strings.Split(*only, ",")
		for _, s := range selected {
			if !slices.Contains(scenarioNames, s) && !slices.Contains(extraScenarios, s) {
				return fmt.Errorf("-only: unknown scenario %q (have %s)", s, strings.Join(append(scenarioNames, extraScenarios...), ","))
			}
		}
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the repository root (make bench)")
	}
	start := time.Now()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "holdline-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// nginx's unprivileged worker must reach its cache under tmp.
	_ = os.Chmod(tmp, 0o755)
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	e := &env{quick: *quick, self: self, tmp: tmp, log: stderr, soakDuration: *soakDuration, soakRate: *soakRate, soakHeap: *soakHeap}
	res := &Results{Meta: collectMeta(ctx, *quick, args), Scenarios: selected}
	if *holdline != "" {
		e.holdline = *holdline
	} else {
		e.logf("building holdline")
		if err := e.buildHoldline(ctx, *outDir); err != nil {
			return err
		}
	}
	e.logf("building the benchmarks' test binaries")
	if err := e.buildTests(ctx, *outDir, selected); err != nil {
		return err
	}
	if slices.Contains(selected, "hop") || slices.Contains(selected, "wobble") {
		var why string
		e.nginx, why = e.findNginx(ctx)
		if why != "" {
			e.note("%s", why)
		} else {
			res.Meta.Nginx = nginxVersion(e.nginx)
		}
	}
	for _, name := range selected {
		if ctx.Err() != nil {
			break
		}
		e.logf("scenario %s", name)
		t0 := time.Now()
		if err := runScenario(ctx, e, name, res, *outDir, *profile); err != nil {
			e.note("scenario %s failed: %v", name, err)
		}
		e.logf("scenario %s done in %v", name, time.Since(t0).Round(time.Second))
	}
	res.Notes = e.notes
	res.Changes = readChanges()
	res.Meta.Seconds = time.Since(start).Seconds()

	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*outDir, "results.json"), b, 0o644); err != nil {
		return err
	}
	if *docJSON != "" {
		if err := os.WriteFile(*docJSON, b, 0o644); err != nil {
			return err
		}
	}
	if *doc != "" {
		if err := os.WriteFile(*doc, []byte(Render(res)), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s and %s in %v\n", *doc, filepath.Join(*outDir, "results.json"), time.Since(start).Round(time.Second))
	}
	return ctx.Err()
}

func runScenario(ctx context.Context, e *env, name string, res *Results, outDir string, profile bool) (err error) {
	switch name {
	case "hop":
		res.Hop, err = runHop(ctx, e)
		if err == nil && profile {
			res.Profile, err = profileHop(ctx, e, outDir)
		}
	case "policy":
		res.Policy, err = runPolicy(ctx, e)
	case "cachehit":
		res.CacheHit, err = runCacheHit(ctx, e)
	case "wobble":
		res.Wobble, err = runWobble(ctx, e)
	case "enqueue":
		res.Enqueue, err = runEnqueue(ctx, e)
	case "fleet":
		res.Fleet, err = runFleet(ctx, e)
	case "recordings":
		res.Recordings, err = runRecordings(ctx, e)
	case "footprint":
		res.Footprint, err = runFootprint(ctx, e)
		if err == nil && profile {
			res.ProfileMixed, err = profileMixed(ctx, e, outDir)
		}
	case "soak":
		res.Soak, err = runSoak(ctx, e)
	case "coldstart":
		res.ColdStart, err = runColdStart(ctx, e)
	}
	return err
}

// changesFile holds each performance change's before/after, written by
// whoever measured it; the report carries it as a section.
const changesFile = "bench/changes.md"

func readChanges() string {
	b, err := os.ReadFile(changesFile)
	if err != nil {
		return ""
	}
	return string(b)
}
