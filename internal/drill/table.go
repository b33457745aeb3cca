package drill

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report for a person: the verdict, the timeline,
// what still worked, what broke unexpectedly, what was lost or delayed.
func (rep *Report) WriteTable(w io.Writer) error {
	verdict := "PASSED"
	switch {
	case rep.Interrupted:
		verdict = "INTERRUPTED"
	case !rep.Passed:
		verdict = "FAILED"
	}
	if rep.Forced {
		verdict += " (FORCED on a dirty baseline)"
	}
	fmt.Fprintf(w, "holdline drill %s (run %s): %s in %.1fs against %s\n", rep.Scenario, rep.RunID, verdict, rep.Seconds, rep.Target)
	if rep.Description != "" {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(strings.ReplaceAll(rep.Description, "\n", "\n  ")))
	}
	for _, d := range rep.Dirty {
		fmt.Fprintf(w, "  dirty before the drill: %s\n", d)
	}

	fmt.Fprintln(w, "\nTIMELINE")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Timeline) == 0 {
		fmt.Fprintln(tw, "  (no actions)")
	}
	for _, a := range rep.Timeline {
		res := "applied " + a.Time.Format("15:04:05.0")
		if a.Error != "" {
			res = "FAILED: " + a.Error
		}
		fmt.Fprintf(tw, "  +%s\t%s\t%s\t%s\t%s\n", a.Offset, a.Kind, a.Dependency, a.Detail, res)
	}
	for _, c := range rep.Breakers {
		fmt.Fprintf(tw, "  +%.1fs\tbreaker\t%s\t%s -> %s\t(%s)\n", c.Time.Sub(rep.Started).Seconds(), c.Dependency, c.From, c.To, c.Source)
	}
	for _, e := range rep.Events {
		fmt.Fprintf(tw, "  +%.1fs\tevent\t\t%s\t\n", e.Time.Sub(rep.Started).Seconds(), e.What)
	}
	tw.Flush()

	fmt.Fprint(w, "\nWHAT STILL WORKED")
	if rep.Disturbed.From != nil {
		fmt.Fprintf(w, " (during = +%.1fs to +%.1fs, while the drill disturbed a dependency)", rep.Disturbed.From.Sub(rep.Started).Seconds(), rep.Disturbed.To.Sub(rep.Started).Seconds())
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  OPERATION\tTIER\tPHASE\tSENT\tOK\tIN BUDGET\tP50\tP99\tDEGRADED\tANSWERED FROM / REASONS / ERRORS")
	for _, group := range [][]OpReport{rep.Operations, rep.Tiers} {
		for _, o := range group {
			name := o.Name
			if o.Name == o.Tier {
				name = "(all " + o.Tier + ")"
			}
			row := func(phase string, st Stats) {
				inBudget := "-"
				if o.BudgetMs > 0 || o.Name == o.Tier {
					inBudget = pct(st.WithinBudgetRate)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", name, o.Tier, phase, st.Sent, pct(st.SuccessRate), inBudget,
					fmtMs(st.P50Ms), fmtMs(st.P99Ms), pct(st.DegradedShare), details(st))
				name = ""
			}
			if o.All.Sent == 0 {
				continue
			}
			row("all", o.All)
			for _, p := range phases {
				if st, ok := o.Phases[p]; ok && len(o.Phases) > 1 {
					row(p, st)
				}
			}
		}
	}
	tw.Flush()
	for _, op := range slices.Sorted(maps.Keys(rep.Unavailable)) {
		fmt.Fprintf(w, "  %s: unavailable on this sidecar, left out of the mix (%s)\n", op, rep.Unavailable[op])
	}

	fmt.Fprintln(w, "\nWHAT BROKE THAT THE SCENARIO DID NOT EXPECT")
	if len(rep.Unexpected) == 0 {
		fmt.Fprintln(w, "  nothing: every expectation held")
	}
	for _, u := range rep.Unexpected {
		fmt.Fprintf(w, "  ✗ %s\n", u)
	}
	fmt.Fprintln(w, "\nEXPECTATIONS")
	for _, e := range rep.Expectations {
		mark := "ok  "
		switch {
		case e.Skipped:
			mark = "SKIP"
		case !e.Passed:
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, e.Expectation, e.Evidence)
	}

	fmt.Fprintln(w, "\nWHAT WAS LOST OR DELAYED")
	l := rep.Lost
	fmt.Fprintf(w, "  %d writes and recordings accepted with a 2xx: %d done, %d pending, %d inflight, %d dead, %d missing",
		l.Accepted, l.ByState["done"], l.ByState["pending"], l.ByState["inflight"], l.ByState["dead"], l.ByState["missing"])
	if len(l.NotDone) > 0 {
		fmt.Fprintf(w, "; oldest not done %s old", (time.Duration(l.OldestUnsettledSeconds * float64(time.Second))).String())
	}
	fmt.Fprintln(w)
	for i, it := range l.NotDone {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more (see the JSON report)\n", len(l.NotDone)-10)
			break
		}
		id := it.JobID
		if it.Kind == "recording" {
			id = it.RecordingID
		}
		fmt.Fprintf(w, "  %s %s %s: %s %s\n", it.Interaction, it.Kind, id, it.State, it.LastError)
	}
	if o := l.OutboxAtEnd; o != nil {
		fmt.Fprintf(w, "  outbox at the end (all jobs, not only the drill's): %d pending, %d inflight, %d dead, %d blocked, oldest pending %.0fs\n",
			o.Pending, o.Inflight, o.Dead, o.Blocked, o.OldestPendingAge)
	}
	if len(rep.Cleanup) > 0 {
		fmt.Fprintln(w, "\nCLEANUP")
		for _, c := range rep.Cleanup {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	return nil
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// details lists where answers came from, why they were degraded and why
// requests failed, most frequent first.
func details(st Stats) string {
	var parts []string
	for _, m := range []struct {
		prefix string
		m      map[string]int
	}{{"", st.Sources}, {"degraded: ", st.Reasons}, {"failed: ", st.Errors}} {
		if len(m.m) > 0 {
			parts = append(parts, m.prefix+fmtCounts(m.m))
		}
	}
	return strings.Join(parts, "; ")
}
