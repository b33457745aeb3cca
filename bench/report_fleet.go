package main

import (
	"fmt"
	"strings"
)

// ---- fleet enqueue ----

func fleetVerdicts(f *Fleet) []verdict {
	const target = "fleet enqueue (three sidecars, one Redis, appendfsync always) ≥ 20,000 jobs/s"
	if f == nil || len(f.Runs) == 0 {
		return []verdict{{target, "not run", "n/a"}}
	}
	var js, st []float64
	for _, r := range f.Runs {
		js = append(js, r.JobsPerS)
	}
	for _, r := range f.Store {
		st = append(st, r.JobsPerS)
	}
	m := median(js)
	return []verdict{{target, fmt.Sprintf("%.0f jobs/s through HTTP (the Redis store alone: %.0f jobs/s; redis-server's own SET rate: %.0f/s from one client, %.0f/s from %d)",
		m, median(st), median(f.FsyncSerial), median(f.FsyncParallel), f.Producers), yesNo(m >= 20000)}}
}

func (w *report) fleet(f *Fleet) {
	w.p("## 5b. Fleet enqueue (the Redis outbox)\n")
	if f == nil {
		w.p("Not run.\n")
		return
	}
	w.p(`%d holdline sidecars (the real binary, `+"`outbox.backend: redis`"+`) on one redis-server %s started with
`+"`appendonly yes`, `appendfsync always`"+` (every write is in the append-only file and fsynced before Redis answers).
The CRM is down (nothing listens on its port; its breaker opens and stays open), so every
`+"`POST /v1/interactions/{id}/record`"+` is queued: a 202 means the job is in Redis, fsynced. %d producers
send closed-loop (each waits for its answer) for %.0f s per run, spread evenly over the sidecars, each
write on a new interaction. After each run the harness counts the jobs Redis holds: it must equal the
writes answered 202.
`, f.Sidecars, f.Redis, f.Producers, f.Seconds)
	w.p("| repeat | jobs/s | accepted | jobs in Redis | p50 ms | p99 ms | errors | redis CPU s | sidecars CPU s | harness CPU s |")
	w.p("|---|---|---|---|---|---|---|---|---|---|")
	for i, r := range f.Runs {
		var errs []string
		for k, v := range r.Errors {
			errs = append(errs, fmt.Sprintf("%s ×%d", k, v))
		}
		e := strings.Join(errs, "; ")
		if e == "" {
			e = "none"
		}
		w.p("| %d | %.0f | %d of %d | %d | %.2f | %.2f | %s | %.2f | %.2f | %.2f |", i+1, r.JobsPerS, r.OK, r.Requests, r.Jobs, r.P50, r.P99, e, r.CPU["redis"], r.CPU["sidecars"], r.CPU["harness"])
	}
	w.p(`
The anchor, on the same redis-server in the same run: SET from one client (each waits for its own
fsync, so this is the fsync rate Redis gets from this disk), SET from %d clients at once (Redis fsyncs
once per event-loop turn for every write of that turn: its own group commit), and the Redis store alone,
`+"`outbox.RedisStore.Enqueue`"+` from %d goroutines over three stores with a client each, no HTTP — the ceiling
the sidecars could reach if HTTP cost nothing:
`, f.Producers, f.Producers)
	w.p("| repeat | SET, 1 client /s | SET, %d clients /s | store alone jobs/s | store alone redis CPU s |", f.Producers)
	w.p("|---|---|---|---|---|")
	for i := range f.FsyncSerial {
		st, cpu := "—", "—"
		if i < len(f.Store) {
			st, cpu = fmt.Sprintf("%.0f", f.Store[i].JobsPerS), fmt.Sprintf("%.2f", f.Store[i].RedisCPU)
		}
		par := 0.0
		if i < len(f.FsyncParallel) {
			par = f.FsyncParallel[i]
		}
		w.p("| %d | %.0f | %.0f | %s | %s |", i+1, f.FsyncSerial[i], par, st, cpu)
	}
	if len(f.UsecPerCall) > 0 {
		w.p("\nRedis's own time executing each call over these runs (INFO commandstats, wall time inside the command, so it grows when the machine is busy): SET %.1f µs a call; the enqueue script (EVALSHA) %.1f µs a call.",
			f.UsecPerCall["set"], f.UsecPerCall["evalsha"])
		if f.UsecPerJob > 0 {
			w.p("Each store commits the enqueues waiting at once in one script call (group commit: %.1f jobs a call in the store-alone runs), so the script's time per job is %.1f µs. One thread runs every script, so 1,000,000 / that figure (%.0f jobs/s) bounds this store on this machine.",
				f.JobsPerCall, f.UsecPerJob, 1e6/f.UsecPerJob)
		}
	}
	w.p(`
Reading: with one client, 1 / (SETs per second) is what one fsync of the append-only file costs here.
The store alone shows what Redis does per job: each sidecar's store sends the enqueues that wait at
the same time as one Lua script call, answered (each caller with its own job) once Redis has run it and
fsynced the append-only file; per job the script writes the job hash and its interaction's index, and
once per call the id sequence, the all, state and ready indexes and the idempotency keys. The HTTP runs
add three sidecars' request handling on the same cores as Redis and the load generator.`)
	w.anchorTable("enqueue")
	w.p("\nReproduce: `go run ./bench -only fleet` (needs redis-server; as root the harness installs it with apt-get).\n")
}
