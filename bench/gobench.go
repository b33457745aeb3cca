package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// GoBench is a `go test -bench` run the harness started and parsed:
// scenario 2 (the policy stack and the cache-hit path without HTTP) and
// scenario 5 (durable enqueue against the disk's fsync rate).
type GoBench struct {
	Command    string       `json:"command"`
	Benchmarks []BenchStats `json:"benchmarks"`
}

// BenchStats is one benchmark: each metric's median over -count runs,
// and every run's value.
type BenchStats struct {
	Package string               `json:"package"`
	Name    string               `json:"name"`
	Median  map[string]float64   `json:"median"`
	Values  map[string][]float64 `json:"values"`
}

// Get returns the benchmark called name (without the -N GOMAXPROCS
// suffix), or nil.
func (g *GoBench) Get(name string) *BenchStats {
	if g == nil {
		return nil
	}
	for i := range g.Benchmarks {
		if g.Benchmarks[i].Name == name {
			return &g.Benchmarks[i]
		}
	}
	return nil
}

func runPolicy(ctx context.Context, e *env) (*GoBench, error) {
	bt := "1s"
	if e.quick {
		bt = "200ms"
	}
	return goBench(ctx, e, "^(BenchmarkCall|BenchmarkPopCacheHit)$", bt, benchPackages["policy"]...)
}

func runEnqueue(ctx context.Context, e *env) (*GoBench, error) {
	bt := "1s"
	if e.quick {
		bt = "300ms"
	}
	return goBench(ctx, e, "^(BenchmarkEnqueue|BenchmarkFsync)$", bt, benchPackages["enqueue"]...)
}

// goBench runs the benchmarks three times each (once with -quick) and
// parses them, one package after the other (never two at once on the
// same cores). The test binaries were built once, up front, by
// buildTests; without them it falls back to go test -p 1.
func goBench(ctx context.Context, e *env, re, benchtime string, pkgs ...string) (*GoBench, error) {
	count := "3"
	if e.quick {
		count = "1"
	}
	args := append([]string{"test", "-p", "1", "-run", "^$", "-bench", re, "-benchmem", "-count", count, "-benchtime", benchtime}, pkgs...)
	g := &GoBench{Command: "go " + strings.Join(quoteArgs(args), " ")}
	e.logf("%s", g.Command)
	var out []byte
	for _, pkg := range pkgs {
		bin := e.testBins[pkg]
		if bin == "" {
			out = nil
			break
		}
		cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", re, "-test.benchmem", "-test.count", count, "-test.benchtime", benchtime)
		cmd.Dir = pkg // a test runs in its package's directory
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w\n%s%s", bin, err, tail(string(b), 2000), tail(stderr.String(), 2000))
		}
		out = append(out, b...)
	}
	if out == nil {
		cmd := exec.CommandContext(ctx, "go", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w\n%s%s", g.Command, err, tail(string(b), 2000), tail(stderr.String(), 2000))
		}
		out = b
	}
	g.Benchmarks = parseBench(out)
	if len(g.Benchmarks) == 0 {
		return nil, fmt.Errorf("%s: no benchmark lines in\n%s", g.Command, tail(string(out), 2000))
	}
	return g, nil
}

// benchPackages are the packages whose Go benchmarks the harness runs.
var benchPackages = map[string][]string{
	"policy":  {"./internal/resilience/", "./internal/screenpop/"},
	"enqueue": {"./outbox/"},
}

// buildTests compiles the test binaries of the selected scenarios in one
// go invocation (go test -c into dir), so each is built once and the
// scenarios only run them.
func (e *env) buildTests(ctx context.Context, dir string, scenarios []string) error {
	var pkgs []string
	for _, s := range scenarios {
		pkgs = append(pkgs, benchPackages[s]...)
	}
	if len(pkgs) == 0 {
		return nil
	}
	out, err := filepath.Abs(filepath.Join(dir, "tests"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-c", "-o", out + "/"}, pkgs...)...)
	cmd.Stderr = e.log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -c: %w", err)
	}
	e.testBins = map[string]string{}
	for _, p := range pkgs {
		e.testBins[p] = filepath.Join(out, filepath.Base(filepath.Clean(p))+".test")
	}
	return nil
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$|()*") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads `go test -bench` output: "pkg:" lines name the
// package, "BenchmarkX-2  N  V unit  V unit ..." lines give metrics.
func parseBench(out []byte) []BenchStats {
	type key struct{ pkg, name string }
	byKey := map[key]*BenchStats{}
	var order []key
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		k := key{pkg, procsSuffix.ReplaceAllString(f[0], "")}
		b := byKey[k]
		if b == nil {
			b = &BenchStats{Package: pkg, Name: k.name, Median: map[string]float64{}, Values: map[string][]float64{}}
			byKey[k] = b
			order = append(order, k)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			b.Values[f[i+1]] = append(b.Values[f[i+1]], v)
		}
	}
	out2 := make([]BenchStats, 0, len(order))
	for _, k := range order {
		b := byKey[k]
		for unit, vs := range b.Values {
			b.Median[unit] = median(vs)
		}
		out2 = append(out2, *b)
	}
	return out2
}

// median returns the middle value (the mean of the two middle ones for
// an even count); 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
