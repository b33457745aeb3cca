package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/holdline/holdline/internal/phone"
)

// fixture is a small result set covering every scenario.
func fixture() *Results {
	lat := func(p50, p99 float64) Latency {
		return Latency{Rate: 1000, Requests: 1000, OK: 1000, Within: 1000, P50: p50, P90: p50 * 2, P99: p99, P999: p99 * 2, Max: p99 * 3, Steady: &Latency{P99: p99 / 2}}
	}
	hop := func(p50, p99, cpu float64) []HopRun {
		return []HopRun{{Latency: lat(p50, p99), CPU: map[string]float64{"proxy": cpu, "upstream": 0.4, "harness": 1}}}
	}
	return &Results{
		Meta:      Meta{Date: "2026-11-24T00:00:00Z", Commit: "abc123", GoVersion: "go1.26.8", Kernel: "6.1", CPU: "AMD EPYC", Cores: 2, Nginx: "nginx/1.22.1", Command: "go run ./bench"},
		Scenarios: scenarioNames,
		Hop: &Hop{Rates: []int{1000}, Paths: []string{pathDirect, pathNginx, pathGoProxy, pathHoldline}, BodyBytes: 1024, HoldlineBytes: 900, Seconds: 5,
			Runs: map[string]map[string][]HopRun{"1000": {pathDirect: hop(0.3, 1.5, 0), pathNginx: hop(0.5, 3, 0.2), pathGoProxy: hop(0.5, 3.5, 0.5), pathHoldline: hop(0.6, 2.5, 0.6)}}},
		Profile: &Profile{Rate: 2000, Seconds: 3, Command: "go tool pprof -top x.pprof", Top: "File: /tmp/x\nflat flat%\n0.1s 10% runtime.futex\n"},
		Policy: &GoBench{Command: "go test -bench", Benchmarks: []BenchStats{
			{Package: "github.com/holdline/holdline/internal/resilience", Name: "BenchmarkCall/write", Median: map[string]float64{"ns/op": 1500, "B/op": 48, "allocs/op": 2}, Values: map[string][]float64{"ns/op": {1400, 1500, 1600}}},
			{Package: "github.com/holdline/holdline/internal/screenpop", Name: "BenchmarkPopCacheHit", Median: map[string]float64{"ns/op": 300, "B/op": 0, "allocs/op": 0}, Values: map[string][]float64{"ns/op": {300}}},
		}},
		CacheHit: &CacheHit{P99LimitMS: 5, Keys: 100, BodyBytes: 900, Seconds: 3, Max: map[string][]int{targetHoldline: {4500}, targetBare: {10125}},
			Steps: map[string][]CacheHitStep{targetHoldline: {{Repeat: 1, Latency: lat(0.2, 1), Pass: true}}}},
		Wobble: &Wobble{Rate: 500, Keys: 200, BudgetMS: 300, Seconds: 6, SteadyS: 3, Modes: []string{"hang 10s"}, Targets: []string{targetHoldline, pathNginx},
			Runs: map[string]map[string][]WobbleRun{"hang 10s": {
				targetHoldline: {{Latency: lat(0.5, 1.5), CRMCalls: 44, CRMLookups: 40, SteadyCRMCalls: 0, Sources: map[string]int{"stale": 990, "cache": 10}}},
				pathNginx:      {{Latency: lat(4.7, 304), CRMCalls: 1000, CRMLookups: 1000}},
			}}},
		Enqueue: &GoBench{Command: "go test -bench", Benchmarks: []BenchStats{
			{Package: "github.com/holdline/holdline/outbox", Name: "BenchmarkEnqueue/producers=64", Median: map[string]float64{"jobs/s": 9000, "jobs/commit": 30}},
			{Package: "github.com/holdline/holdline/outbox", Name: "BenchmarkFsync", Median: map[string]float64{"fsync/s": 1000}},
		}},
		Recordings: &Recordings{Bytes: 256 << 20, MBps: map[string][]float64{recHoldline: {100}, recDirect: {200}}, PeakRSS: []int64{50 << 20}, StartRSS: []int64{20 << 20}},
		Footprint:  &Footprint{Rate: 1000, Seconds: 8, Mix: map[string]int{"a": 70, "b": 30}, Runs: []FootprintRun{{Latency: lat(0.4, 2), CPUSeconds: 0.6, CPUPer1000: 0.075, Cores: 0.075, RSS: 30e6, HWM: 35e6}}},
		ColdStart:  &ColdStart{MS: []float64{80, 90, 120}, RSS: []int64{20e6}, ExecMS: []float64{5, 6, 7}, BinaryBytes: 46_700_000},
		Changes:    "Group commit: 10% → 43% of fsync/s × jobs/commit.",
		Notes:      []string{"nginx is here"},
	}
}

func TestRenderFull(t *testing.T) {
	md := Render(fixture())
	for _, want := range []string{
		"Do not edit by hand",
		"| commit | `abc123` |",
		"| machine | 2 cores, AMD EPYC; kernel 6.1",
		"| Go | go1.26.8 |",
		// scenario 1: added latency, and CPU per request and added p99
		// against Go's reverse proxy (nginx the stretch)
		"| holdline | 0.60 | 1.20 | 2.50 | 5.00 | +0.30 | +0.60 | +1.00 | +2.00 |",
		"holdline 600.0 µs, Go proxy 500.0 µs (1.20×); nginx 200.0 µs (stretch ≤ 2×: 3.00×) | **no** |",
		"holdline +1.00 ms, Go proxy +2.00 ms, nginx +1.50 ms (stretch) | yes |",
		"https://istio.io/v1.20/docs/ops/deployment/performance-and-scalability/",
		// the profile, without its temporary file name
		"0.1s 10% runtime.futex",
		// scenario 2 against Polly
		"policy stack (write) under 2 µs | 1500 ns/op, 48 B/op, 2 allocs/op | yes |",
		"| 1500 (1400–1600) |",
		"2.237 µs and 40 B",
		// scenario 3: the ratio, a miss stated plainly
		"4500 vs 10125 rps with p99 < 5 ms: 44% | **no** |",
		// scenario 4
		"| hang 10s | holdline | 100.00% | 100.00% | 0.50 | 1.50 |",
		"| hang 10s | nginx |",
		"cache 10, stale 990",
		// scenario 5: 9000 jobs/s against 1000 × 30
		"9000 jobs/s vs 1000 fsync/s × 30.0 = 30000 (30%; a bbolt commit takes 2 fsyncs) | **no** |",
		// scenarios 6-8
		"100.0 vs 200.0 MiB/s (50%) | **no** |",
		"0.075 cores | yes |",
		"median 90.0 ms of 3 | **no** |",
		"`holdline version` < 10 ms | median 6.0 ms of 3 | yes |",
		"production binary < 40 MB | 46.7 MB | **no** |",
		"## Before and after\n\nGroup commit: 10% → 43%",
		"- nginx is here",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Render() lacks %q", want)
		}
	}
	if strings.Contains(md, "File: /tmp/x") {
		t.Error("Render() kept pprof's temporary file name")
	}
}

func TestRenderEmpty(t *testing.T) {
	md := Render(&Results{Meta: Meta{Quick: true}, Scenarios: []string{"coldstart"}})
	for _, want := range []string{"**quick run**", "## 1. Added latency per hop\n\nNot run.", "Not run this time: hop, policy,"} {
		if !strings.Contains(md, want) {
			t.Errorf("Render(empty) lacks %q", want)
		}
	}
}

// TestRenderFromJSON checks that the report is a function of
// results.json alone: a saved run renders the same after a round trip.
func TestRenderFromJSON(t *testing.T) {
	r := fixture()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got, want := Render(&back), Render(r); got != want {
		t.Errorf("Render(JSON round trip) differs from Render(results)")
	}
}

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
pkg: github.com/holdline/holdline/outbox
BenchmarkEnqueue/producers=16-2   	    4000	    250000 ns/op	      3900 jobs/s	        12.0 jobs/commit	    1500 B/op	      20 allocs/op
BenchmarkEnqueue/producers=16-2   	    4000	    260000 ns/op	      3800 jobs/s	        11.0 jobs/commit	    1500 B/op	      20 allocs/op
BenchmarkEnqueue/producers=16-2   	    4000	    240000 ns/op	      4100 jobs/s	        13.0 jobs/commit	    1500 B/op	      20 allocs/op
BenchmarkFsync-2   	     500	   2000000 ns/op	       500.0 fsync/s
PASS
`)
	got := parseBench(out)
	if len(got) != 2 {
		t.Fatalf("parseBench() = %d benchmarks, want 2: %+v", len(got), got)
	}
	e := got[0]
	if e.Name != "BenchmarkEnqueue/producers=16" || e.Package != "github.com/holdline/holdline/outbox" {
		t.Errorf("first = %q in %q", e.Name, e.Package)
	}
	if e.Median["jobs/s"] != 3900 || e.Median["jobs/commit"] != 12 || len(e.Values["ns/op"]) != 3 {
		t.Errorf("medians = %v, values = %v", e.Median, e.Values)
	}
	if g := (&GoBench{Benchmarks: got}).Get("BenchmarkFsync"); g == nil || g.Median["fsync/s"] != 500 {
		t.Errorf("Get(BenchmarkFsync) = %+v", g)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestPhones checks that the generated numbers are valid (holdline
// rejects invalid ones with 400) and distinct.
func TestPhones(t *testing.T) {
	seen := map[string]bool{}
	for _, i := range []int64{0, 1, 9999, 10000, 109999, 110000, 7_919_999, 7_920_000, 9_000_123} {
		p := phoneAt(i)
		if _, err := phone.Parse(p, "US"); err != nil {
			t.Errorf("phoneAt(%d) = %s: %v", i, p, err)
		}
		seen[p] = true
	}
	for i := range 2000 {
		p := keyedPhone(i)
		if _, err := phone.Parse(p, "US"); err != nil {
			t.Fatalf("keyedPhone(%d) = %s: %v", i, p, err)
		}
		if seen[p] {
			t.Fatalf("keyedPhone(%d) = %s repeats", i, p)
		}
		seen[p] = true
	}
	for k := range int64(792) {
		if e := exchange(k); e < 200 || e > 999 || e%100 == 11 {
			t.Fatalf("exchange(%d) = %d", k, e)
		}
	}
}

func TestUpstreamBody(t *testing.T) {
	b := upstreamBody("+14155550100")
	if len(b) != upstreamBodySize {
		t.Errorf("len(upstreamBody) = %d, want %d", len(b), upstreamBodySize)
	}
	var v struct {
		Contacts []struct {
			Records []any `json:"records"`
		} `json:"contacts"`
	}
	if err := json.Unmarshal([]byte(b), &v); err != nil || len(v.Contacts) != 1 || len(v.Contacts[0].Records) != 4 {
		t.Errorf("upstreamBody = %s (%v)", b, err)
	}
}

func TestHoldlineConfig(t *testing.T) {
	c := holdlineConfig("127.0.0.1:1", "127.0.0.1:2", "/d", holdlineOpts{crmURL: "http://127.0.0.1:3", freshTTL: "1s", issuer: "http://127.0.0.1:4", redis: "127.0.0.1:5", gcsURL: "http://127.0.0.1:6"})
	for _, want := range []string{"fresh_ttl: 1s", `redis: {addr: "127.0.0.1:5"}`, `primary: "http://127.0.0.1:3"`, `issuer: "http://127.0.0.1:4"`, "store: gcs", "  blob:\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("holdlineConfig lacks %q:\n%s", want, c)
		}
	}
}

// relPath matches a source that names a file rather than a page: a
// relative or absolute path such as "../notes/figures.md" or
// "reference/measure/nginx.conf".
var relPath = regexp.MustCompile(`^(\.{1,2}/|/|~/)|^[\w.-]+(/[\w.-]+)*\.(md|txt|go|conf|json|yaml|csv)$|^[\w.-]+/[\w./-]+$`)

// TestAnchorSources checks that every anchor's source is one a reader of
// the report can follow: a published page's address, or the method and
// figures of a measurement written out in the report itself.
func TestAnchorSources(t *testing.T) {
	for _, s := range scenarioNames {
		for _, a := range anchors(s) {
			src := strings.TrimSpace(a.Source)
			switch {
			case src == "":
				t.Errorf("%s: %q has no source", s, a.System)
			case strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://"):
				if strings.ContainsAny(src, " \t") {
					t.Errorf("%s: %q: source %q is an address with spaces", s, a.System, src)
				}
			case relPath.MatchString(src):
				t.Errorf("%s: %q: source %q is a file path no reader has", s, a.System, src)
			case strings.Contains(src, "measured") && !strings.Contains(src, "Figures:"):
				t.Errorf("%s: %q: a measurement's source must give its figures: %q", s, a.System, src)
			}
		}
	}
	md := Render(fixture())
	if strings.Contains(md, "../") {
		t.Errorf("the report names a relative path:\n%s", md)
	}
}

func TestRelPath(t *testing.T) {
	for src, want := range map[string]bool{
		"../shared/reference/measured-here.md": true,
		"reference/measure/nginx.conf":         true,
		"measured-here.md":                     true,
		"/etc/nginx/nginx.conf":                true,
		"the same run as the row above":        false,
		"measured on this class of machine: vegeta 1 kB. Figures: p99 1.5 ms": false,
	} {
		if got := relPath.MatchString(src); got != want {
			t.Errorf("relPath(%q) = %v, want %v", src, got, want)
		}
	}
}

func TestRenderSoak(t *testing.T) {
	r := fixture()
	s := &Soak{Rate: 1000, Seconds: 240, Every: 10, FlapS: 15}
	for i, rss := range []int64{60, 80, 100, 104, 106} {
		s.Samples = append(s.Samples, SoakSample{T: float64(i * 60), RSS: rss << 20, HeapInuse: rss << 19, CRM: "ok", OutboxUsed: rss << 18, OutboxFile: 32 << 20})
	}
	r.Soak = s
	md := Render(r)
	for _, want := range []string{
		"## Soak",
		"| 240 | 106.0 |",
		"| 26.5 | 32.0 |",
		"outbox file used 25.0 → 26.5 MiB",
		// the window is the second half of a short run: 120 s to 240 s
		"soak: RSS and heap flat (within 10%) from 120 s to 240 s | RSS +6% (100.0 → 106.0 MiB), heap in use +6% (50.0 → 53.0 MiB) | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	s.Samples[4].RSS = 120 << 20
	if md := Render(r); !strings.Contains(md, "RSS +20% (100.0 → 120.0 MiB)") || !strings.Contains(md, "| **no** |") {
		t.Errorf("a 20%% growth is not a miss:\n%s", md)
	}
}

func TestRenderFleet(t *testing.T) {
	r := fixture()
	r.Fleet = &Fleet{Sidecars: 3, Producers: 96, Seconds: 5, Redis: "7.0.15",
		Runs:        []FleetRun{{Latency: Latency{Requests: 100, OK: 100, P50: 1, P99: 2}, JobsPerS: 1500, Jobs: 100, CPU: map[string]float64{"redis": 0.5}}},
		Store:       []FleetStoreRun{{JobsPerS: 3000}},
		FsyncSerial: []float64{180}, FsyncParallel: []float64{10000}, UsecPerCall: map[string]float64{"set": 3, "evalsha": 60},
		UsecPerJob: 20, JobsPerCall: 3}
	md := Render(r)
	for _, want := range []string{
		"## 5b. Fleet enqueue",
		"| 1 | 1500 | 100 of 100 | 100 | 1.00 | 2.00 | none |",
		"≥ 20,000 jobs/s | 1500 jobs/s through HTTP (the Redis store alone: 3000 jobs/s; redis-server's own SET rate: 180/s from one client, 10000/s from 96) | **no** |",
		"the enqueue script (EVALSHA) 60.0 µs a call",
		"3.0 jobs a call in the store-alone runs), so the script's time per job is 20.0 µs",
		"(50000 jobs/s) bounds this store",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
