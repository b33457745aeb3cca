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
// Each section is written by a function of its own, in this order.
func (rep *Report) WriteTable(w io.Writer) error {
	rep.writeHeader(w)
	rep.writeTimeline(w)
	rep.writeOperations(w)
	rep.writeUnexpected(w)
	rep.writeExpectations(w)
	rep.writeLost(w)
	rep.writeCleanup(w)
	return nil
}

// verdict is PASSED, FAILED or INTERRUPTED, marked when forced.
func (rep *Report) verdict() string {
	v := "PASSED"
	switch {
	case rep.Interrupted:
		v = "INTERRUPTED"
	case !rep.Passed:
		v = "FAILED"
	}
	if rep.Forced {
		v += " (FORCED on a dirty baseline)"
	}
	return v
}

// writeHeader writes the verdict line, the description and what was
// dirty before the drill.
func (rep *Report) writeHeader(w io.Writer) {
	fmt.Fprintf(w, "holdline drill %s (run %s): %s in %.1fs against %s\n", rep.Scenario, rep.RunID, rep.verdict(), rep.Seconds, rep.Target)
	if rep.Description != "" {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(strings.ReplaceAll(rep.Description, "\n", "\n  ")))
	}
	for _, d := range rep.Dirty {
		fmt.Fprintf(w, "  dirty before the drill: %s\n", d)
	}
}

// writeTimeline writes the drill's actions, then the breakers' changes,
// then the events, each at its offset from the start.
func (rep *Report) writeTimeline(w io.Writer) {
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
		fmt.Fprintf(tw, "  +%.1fs\tbreaker\t%s\t%s -> %s\t(%s)\n", rep.offset(c.Time), c.Dependency, c.From, c.To, c.Source)
	}
	for _, e := range rep.Events {
		fmt.Fprintf(tw, "  +%.1fs\tevent\t\t%s\t\n", rep.offset(e.Time), e.What)
	}
	tw.Flush()
}

// offset is t's distance from the start of the drill, in seconds.
func (rep *Report) offset(t time.Time) float64 { return t.Sub(rep.Started).Seconds() }

// writeOperations writes what still worked: a row per operation and tier
// over the whole run, then one per phase when it had more than one, and
// the operations this sidecar could not serve.
func (rep *Report) writeOperations(w io.Writer) {
	fmt.Fprint(w, "\nWHAT STILL WORKED")
	if rep.Disturbed.From != nil {
		fmt.Fprintf(w, " (during = +%.1fs to +%.1fs, while the drill disturbed a dependency)", rep.offset(*rep.Disturbed.From), rep.offset(*rep.Disturbed.To))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  OPERATION\tTIER\tPHASE\tSENT\tOK\tIN BUDGET\tP50\tP99\tDEGRADED\tANSWERED FROM / REASONS / ERRORS")
	for _, group := range [][]OpReport{rep.Operations, rep.Tiers} {
		for _, o := range group {
			writeOpRows(tw, o)
		}
	}
	tw.Flush()
	for _, op := range slices.Sorted(maps.Keys(rep.Unavailable)) {
		fmt.Fprintf(w, "  %s: unavailable on this sidecar, left out of the mix (%s)\n", op, rep.Unavailable[op])
	}
}

// writeOpRows writes o's rows (none when it sent nothing): all, then each
// phase when there was more than one. Only the first row names it.
func writeOpRows(tw io.Writer, o OpReport) {
	if o.All.Sent == 0 {
		return
	}
	name := o.Name
	if o.Name == o.Tier {
		name = "(all " + o.Tier + ")"
	}
	writeOpRow(tw, o, name, "all", o.All)
	for _, p := range phases {
		if st, ok := o.Phases[p]; ok && len(o.Phases) > 1 {
			writeOpRow(tw, o, "", p, st)
		}
	}
}

// writeOpRow writes one row of o's figures for phase.
func writeOpRow(tw io.Writer, o OpReport, name, phase string, st Stats) {
	inBudget := "-"
	if o.BudgetMs > 0 || o.Name == o.Tier {
		inBudget = pct(st.WithinBudgetRate)
	}
	fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", name, o.Tier, phase, st.Sent, pct(st.SuccessRate), inBudget,
		fmtMs(st.P50Ms), fmtMs(st.P99Ms), pct(st.DegradedShare), details(st))
}

// writeUnexpected writes what broke that the scenario did not expect.
func (rep *Report) writeUnexpected(w io.Writer) {
	fmt.Fprintln(w, "\nWHAT BROKE THAT THE SCENARIO DID NOT EXPECT")
	if len(rep.Unexpected) == 0 {
		fmt.Fprintln(w, "  nothing: every expectation held")
	}
	for _, u := range rep.Unexpected {
		fmt.Fprintf(w, "  ✗ %s\n", u)
	}
}

// writeExpectations writes each expectation's verdict and evidence.
func (rep *Report) writeExpectations(w io.Writer) {
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
}

// maxNotDone is how many unsettled items the table lists; the JSON report
// has them all.
const maxNotDone = 10

// writeLost writes what the sidecar accepted and where it stands: counts
// by state, the first unsettled items, and the outbox at the end.
func (rep *Report) writeLost(w io.Writer) {
	fmt.Fprintln(w, "\nWHAT WAS LOST OR DELAYED")
	l := rep.Lost
	fmt.Fprintf(w, "  %d writes and recordings accepted with a 2xx: %d done, %d pending, %d inflight, %d dead, %d missing",
		l.Accepted, l.ByState["done"], l.ByState["pending"], l.ByState["inflight"], l.ByState["dead"], l.ByState["missing"])
	if len(l.NotDone) > 0 {
		fmt.Fprintf(w, "; oldest not done %s old", (time.Duration(l.OldestUnsettledSeconds * float64(time.Second))).String())
	}
	fmt.Fprintln(w)
	for i, it := range l.NotDone {
		if i == maxNotDone {
			fmt.Fprintf(w, "  ... and %d more (see the JSON report)\n", len(l.NotDone)-maxNotDone)
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
}

// writeCleanup writes what cleanup undid, when it did anything.
func (rep *Report) writeCleanup(w io.Writer) {
	if len(rep.Cleanup) == 0 {
		return
	}
	fmt.Fprintln(w, "\nCLEANUP")
	for _, c := range rep.Cleanup {
		fmt.Fprintf(w, "  %s\n", c)
	}
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
