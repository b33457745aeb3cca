package main

import "fmt"

// ---- soak ----

// soakWindow returns the samples from minute 5 on (the window:
// after warm-up), or the second half of a shorter run.
func soakWindow(s *Soak) []SoakSample {
	from := 300.0
	if s.Seconds < 600 {
		from = s.Seconds / 2
	}
	var out []SoakSample
	for _, x := range s.Samples {
		if x.T >= from {
			out = append(out, x)
		}
	}
	return out
}

// growth is the change from the first to the last sample of w, as a
// fraction of the first.
func growth(w []SoakSample, f func(SoakSample) int64) float64 {
	if len(w) < 2 || f(w[0]) == 0 {
		return 0
	}
	return float64(f(w[len(w)-1])-f(w[0])) / float64(f(w[0]))
}

func soakVerdicts(s *Soak) []verdict {
	if s == nil {
		return nil
	}
	w := soakWindow(s)
	if len(w) < 2 {
		return []verdict{{"soak: RSS and heap flat (within 10%) after warm-up", "too few samples", "n/a"}}
	}
	rss := growth(w, func(x SoakSample) int64 { return x.RSS })
	heap := growth(w, func(x SoakSample) int64 { return x.HeapInuse })
	return []verdict{{fmt.Sprintf("soak: RSS and heap flat (within 10%%) from %.0f s to %.0f s", w[0].T, w[len(w)-1].T),
		fmt.Sprintf("RSS %+.0f%% (%.1f → %.1f MiB), heap in use %+.0f%% (%.1f → %.1f MiB)", 100*rss, mib(w[0].RSS), mib(w[len(w)-1].RSS),
			100*heap, mib(w[0].HeapInuse), mib(w[len(w)-1].HeapInuse)),
		yesNo(rss <= 0.10 && heap <= 0.10)},
		// Not the target, its explanation: the process's own memory apart
		// from the mapped outbox file, which grows with retained jobs.
		{"soak: anonymous memory (RSS less mapped files) within 10%",
			fmt.Sprintf("anon %+.0f%% (%.1f → %.1f MiB); mapped files %.1f → %.1f MiB, outbox file used %.1f → %.1f MiB", 100*growth(w, func(x SoakSample) int64 { return x.RSSAnon }),
				mib(w[0].RSSAnon), mib(w[len(w)-1].RSSAnon), mib(w[0].RSSFile), mib(w[len(w)-1].RSSFile), mib(w[0].OutboxUsed), mib(w[len(w)-1].OutboxUsed)),
			yesNo(growth(w, func(x SoakSample) int64 { return x.RSSAnon }) <= 0.10)},
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (w *report) soak(s *Soak) {
	w.p("## Soak\n")
	w.p(`The real binary under %d requests/s of mixed traffic for %.0f s (%d requests, %d answered 2xx; out of
every 10: 7 cache-hit screen pops, 1 pop of a new number, 1 CRM record write on a new interaction, 1
token verification), while the CRM simulator flaps: healthy for %.0f s, then every call 503 for %.0f s,
and so on. Every %.0f s the harness reads the sidecar's RSS (/proc), Go heap and goroutines (its
/metrics) and open files (/proc/PID/fd); requests, ok and p99 are those of the interval before the
sample.
`, s.Rate, s.Seconds, s.Requests, s.OK, s.FlapS, s.FlapS, s.Every)
	if s.InProcess {
		w.p("The sidecar ran inside the harness (`-soak-heap`) for heap profiles: RSS includes the load generator.\n")
	}
	w.p("| t s | RSS MiB | anon MiB | file MiB | outbox used MiB | outbox file MiB | heap alloc MiB | heap in use MiB | goroutines | open files | CRM | requests | ok | p99 ms |")
	w.p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, x := range s.Samples {
		w.p("| %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %d | %s | %d | %d | %.2f |", x.T, mib(x.RSS), mib(x.RSSAnon), mib(x.RSSFile), mib(x.OutboxUsed), mib(x.OutboxFile),
			mib(x.Heap), mib(x.HeapInuse), x.Goroutines, x.OpenFiles, x.CRM, x.Requests, x.OK, x.P99)
	}
	w.p(`
Reading: anon is the process's own memory (Go heap, stacks, runtime); file is pages of mapped files,
mostly bbolt's memory-mapped outbox, which the kernel can drop and re-read. Outbox used is the outbox
file up to its high-water mark (pages holding jobs, or freed and waiting for reuse), outbox file the
file's size (bbolt grows it ahead): done jobs stay for ` + "`outbox.retention`" + ` (7 days), so the file,
and the mapped pages with it, grow with every write until the retention sweep frees pages as fast as
writes fill them (see docs/outbox.md, Storage). The target is flat memory after warm-up — RSS and heap within 10%% from minute 5 to the end
(the second half of a run shorter than 10 minutes).

Reproduce: ` + "`make soak`" + ` (30 minutes; ` + "`make soak DURATION=4m`" + ` for a short one).
`)
}
