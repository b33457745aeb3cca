package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/holdline/holdline/outbox"
)

// Fleet is the fleet enqueue scenario: three holdline sidecars in fleet
// mode (outbox.backend redis) on one redis-server with appendonly yes
// and appendfsync always, producers writing CRM records through the HTTP
// API while the CRM is down, so that every write becomes an outbox job
// (202). Beside it, the same redis-server's own ceilings: one client
// writing alone (one fsync per write: the fsync rate), many clients at
// once (Redis's own group commit), and the Redis store alone without
// HTTP (outbox.RedisStore.Enqueue from the harness process).
type Fleet struct {
	Sidecars  int     `json:"sidecars"`
	Producers int     `json:"producers"`
	Seconds   float64 `json:"seconds_per_run"`
	// Runs are the HTTP runs, one per repeat.
	Runs []FleetRun `json:"runs"`
	// Store are runs of RedisStore.Enqueue alone (no HTTP), one per repeat.
	Store []FleetStoreRun `json:"store"`
	// FsyncSerial is SETs per second from one client (each waits for its
	// own fsync); FsyncParallel from Producers clients at once.
	FsyncSerial   []float64 `json:"redis_set_serial_per_s"`
	FsyncParallel []float64 `json:"redis_set_parallel_per_s"`
	Redis         string    `json:"redis_version"`
	// UsecPerCall is Redis's own time executing each command (INFO
	// commandstats usec_per_call, wall time inside the call) over the anchor and store runs: "set", and "evalsha"
	// (one call of the outbox enqueue script: a batch of jobs).
	UsecPerCall map[string]float64 `json:"redis_usec_per_call,omitempty"`
	// UsecPerJob is the enqueue scripts' total time inside Redis over
	// the store runs divided by the jobs they stored, and JobsPerCall the
	// jobs per script call: each store commits concurrent enqueues
	// together (group commit), so one call carries several jobs.
	UsecPerJob  float64 `json:"redis_evalsha_usec_per_job,omitempty"`
	JobsPerCall float64 `json:"redis_jobs_per_evalsha,omitempty"`
}

// FleetRun is one closed-loop HTTP run across the sidecars.
type FleetRun struct {
	Latency
	// JobsPerS is writes answered 201 or 202 per second, all sidecars.
	JobsPerS float64 `json:"jobs_per_s"`
	// Jobs is how many jobs the shared outbox holds after the run that it
	// did not hold before (it must equal the accepted writes).
	Jobs       int64              `json:"jobs_in_redis"`
	PerSidecar []int64            `json:"accepted_per_sidecar"`
	CPU        map[string]float64 `json:"cpu_s"`
}

// FleetStoreRun is one run of the store alone.
type FleetStoreRun struct {
	Goroutines int     `json:"goroutines"`
	Jobs       int64   `json:"jobs"`
	Seconds    float64 `json:"seconds"`
	JobsPerS   float64 `json:"jobs_per_s"`
	RedisCPU   float64 `json:"redis_cpu_s"`
}

// findRedis returns redis-server's path, installing redis-server with
// apt-get when it is missing and the harness runs as root.
func (e *env) findRedis(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("redis-server is not installed and the harness is not root (apt-get install -y redis-server)")
	}
	e.logf("installing redis-server with apt-get")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "redis-server")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get install redis-server: %v\n%s", err, tail(string(out), 500))
	}
	return exec.LookPath("redis-server")
}

// startRedis runs redis-server on addr with every write fsynced before
// its reply (appendfsync always), in its own directory.
func (e *env) startRedis(ctx context.Context, bin, addr string) (*proc, error) {
	dir := e.dir("redis")
	host, port, _ := strings.Cut(addr, ":")
	p, err := startProc("redis-server", dir, bin, "--port", port, "--bind", host, "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning",
		"--maxmemory-policy", "noeviction")
	if err != nil {
		return nil, err
	}
	if err := waitTCP(p, addr, 10*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func runFleet(ctx context.Context, e *env) (*Fleet, error) {
	repeats, dur, warm := 3, 5*time.Second, time.Second
	if e.quick {
		repeats, dur, warm = 1, 2*time.Second, 500*time.Millisecond
	}
	res := &Fleet{Sidecars: 3, Producers: 96, Seconds: dur.Seconds()}
	bin, err := e.findRedis(ctx)
	if err != nil {
		return nil, err
	}
	raddr, _ := freeAddr()
	rp, err := e.startRedis(ctx, bin, raddr)
	if err != nil {
		return nil, err
	}
	defer rp.stop()
	rdb := redis.NewClient(&redis.Options{Addr: raddr, PoolSize: res.Producers + 8})
	defer rdb.Close()
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
				res.Redis = v
			}
		}
	}

	// The anchor: what this redis-server does with plain writes.
	_ = rdb.ConfigResetStat(ctx).Err()
	for range repeats {
		s := redisSetRate(ctx, rdb, 1, dur/2)
		p := redisSetRate(ctx, rdb, res.Producers, dur/2)
		res.FsyncSerial, res.FsyncParallel = append(res.FsyncSerial, s), append(res.FsyncParallel, p)
		e.logf("fleet  redis SET with appendfsync always: 1 client %.0f/s, %d clients %.0f/s", s, res.Producers, p)
	}

	// The store alone, three stores as three sidecars would hold.
	for rep := range repeats {
		r, err := storeEnqueueRate(ctx, raddr, rp, res.Sidecars, res.Producers, dur, rep)
		if err != nil {
			return nil, err
		}
		res.Store = append(res.Store, r)
		e.logf("fleet  store alone: %d goroutines, %d jobs in %.1f s = %.0f jobs/s (redis %.2f CPU s)", r.Goroutines, r.Jobs, r.Seconds, r.JobsPerS, r.RedisCPU)
	}
	res.UsecPerCall = commandStats(ctx, rdb, "set", "evalsha")
	if usec, calls := commandTotals(ctx, rdb, "evalsha"); calls > 0 {
		var jobs int64
		for _, r := range res.Store {
			jobs += r.Jobs
		}
		if jobs > 0 {
			res.UsecPerJob, res.JobsPerCall = usec/float64(jobs), float64(jobs)/float64(calls)
		}
	}
	e.logf("fleet  redis CPU per call: %v µs; enqueue script %.1f µs per job, %.1f jobs per call", res.UsecPerCall, res.UsecPerJob, res.JobsPerCall)
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return nil, err
	}

	// The CRM is down (nothing listens): every write is queued (202) and
	// the breaker keeps the dispatchers from trying it.
	crmAddr, _ := freeAddr()
	var sidecars []*instance
	var bases []string
	for i := range res.Sidecars {
		hl, err := e.startHoldline(ctx, fmt.Sprintf("holdline-%d", i+1), holdlineOpts{crmURL: "http://" + crmAddr, outboxRedis: raddr, crmDown: true})
		if err != nil {
			return nil, err
		}
		defer hl.stop()
		sidecars = append(sidecars, hl)
		bases = append(bases, "http://"+hl.addr)
	}
	for rep := range repeats {
		before, err := rdb.ZCard(ctx, "{holdline:outbox}:all").Result()
		if err != nil {
			return nil, err
		}
		per := make([]atomic.Int64, len(bases))
		tr := fleetTargeter(bases, rep, per)
		spec := attackSpec{name: "fleet", targeter: tr, workers: res.Producers, okCodes: []int{http.StatusCreated, http.StatusAccepted}}
		spec.duration = warm
		_ = attack(ctx, spec)
		for i := range per {
			per[i].Store(0)
		}
		procs := []*proc{rp}
		for _, s := range sidecars {
			procs = append(procs, s.proc)
		}
		m := newCPUMeter(procs...)
		mid, _ := rdb.ZCard(ctx, "{holdline:outbox}:all").Result()
		spec.duration = dur
		l := attack(ctx, spec)
		cpu := m.since()
		after, err := rdb.ZCard(ctx, "{holdline:outbox}:all").Result()
		if err != nil {
			return nil, err
		}
		run := FleetRun{Latency: l, Jobs: after - mid, CPU: map[string]float64{"redis": cpu[rp.name]}}
		for i, s := range sidecars {
			run.CPU["sidecars"] += cpu[s.name]
			run.PerSidecar = append(run.PerSidecar, per[i].Load())
		}
		run.CPU["harness"] = cpu["harness"]
		if l.Seconds > 0 {
			run.JobsPerS = float64(l.OK) / l.Seconds
		}
		if run.Jobs != int64(l.OK) {
			e.note("fleet rep %d: %d writes accepted but %d new jobs in Redis", rep+1, l.OK, run.Jobs)
		}
		res.Runs = append(res.Runs, run)
		e.logf("fleet  rep %d: %d sidecars, %d producers: %.0f jobs/s (ok %d/%d, %d jobs in redis, %d before), p50 %.2f p99 %.2f ms, CPU redis %.2f sidecars %.2f harness %.2f s",
			rep+1, res.Sidecars, res.Producers, run.JobsPerS, l.OK, l.Requests, run.Jobs, before, l.P50, l.P99, run.CPU["redis"], run.CPU["sidecars"], run.CPU["harness"])
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	return res, nil
}

// fleetTargeter spreads record writes over the sidecars in turn, each on
// a new interaction, counting what each sidecar was sent.
func fleetTargeter(bases []string, rep int, per []atomic.Int64) vegeta.Targeter {
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	body := []byte(`{"subject":"Call about invoice","contact_id":"101","channel":"voice"}`)
	var i atomic.Int64
	return func(t *vegeta.Target) error {
		n := i.Add(1)
		k := int(n) % len(bases)
		per[k].Add(1)
		t.Method, t.Header, t.Body = http.MethodPost, hdr, body
		t.URL = fmt.Sprintf("%s/v1/interactions/fleet-%d-%d/record", bases[k], rep, n)
		return nil
	}
}

// redisSetRate is SETs per second from n clients writing at once for d.
// With appendfsync always, Redis fsyncs the append-only file once per
// event-loop turn before it answers, so one client measures the fsync
// rate and many clients measure how far Redis's own group commit goes.
func redisSetRate(ctx context.Context, rdb *redis.Client, n int, d time.Duration) float64 {
	var ops atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := range n {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if rdb.Set(ctx, fmt.Sprintf("bench:set:%d:%d", g, i%100), "x", 0).Err() == nil {
					ops.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(ops.Load()) / time.Since(t0).Seconds()
}

// storeEnqueueRate runs stores RedisStores on the redis-server at addr (as many sidecars
// would hold) with goroutines producers among them for d, each job on a
// new interaction.
func storeEnqueueRate(ctx context.Context, addr string, rp *proc, stores, goroutines int, d time.Duration, rep int) (FleetStoreRun, error) {
	var ss []*outbox.RedisStore
	for range stores {
		// A client each, as each sidecar has its own.
		rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: goroutines/stores + 4})
		defer rdb.Close()
		s, err := outbox.OpenRedis(ctx, rdb, outbox.RedisOptions{})
		if err != nil {
			return FleetStoreRun{}, err
		}
		defer s.Close()
		ss = append(ss, s)
	}
	var jobs atomic.Int64
	var failed atomic.Value
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	m := newCPUMeter(rp)
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := range goroutines {
		s := ss[g%len(ss)]
		wg.Go(func() {
			for i := 0; rctx.Err() == nil; i++ {
				_, _, err := s.Enqueue(rctx, outbox.Job{Kind: "crm.create_record", Dependency: "crm",
					InteractionID: fmt.Sprintf("store-%d-%d-%d", rep, g, i), IdempotencyKey: fmt.Sprintf("record:store-%d-%d-%d", rep, g, i), Payload: []byte(`{"subject":"Call"}`)})
				if err == nil {
					jobs.Add(1)
				} else if rctx.Err() == nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sec := time.Since(t0).Seconds()
	if err, _ := failed.Load().(error); err != nil {
		return FleetStoreRun{}, fmt.Errorf("store enqueue: %w", err)
	}
	return FleetStoreRun{Goroutines: goroutines, Jobs: jobs.Load(), Seconds: sec, JobsPerS: float64(jobs.Load()) / sec, RedisCPU: m.since()[rp.name]}, nil
}

// commandTotals returns the usec and calls of command cmd from INFO
// commandstats.
func commandTotals(ctx context.Context, rdb *redis.Client, cmd string) (usec float64, calls int64) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || name != "cmdstat_"+cmd {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "usec":
				usec, _ = strconv.ParseFloat(v, 64)
			case "calls":
				calls, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return usec, calls
}

// commandStats returns usec_per_call of the named commands from INFO
// commandstats: the server's own time inside each call.
func commandStats(ctx context.Context, rdb *redis.Client, cmds ...string) map[string]float64 {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		cmd, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found || !slices.Contains(cmds, cmd) {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "usec_per_call="); ok {
				out[cmd], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}
