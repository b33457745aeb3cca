package drill

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// evaluator judges expectations against what the drill recorded.
type evaluator struct {
	s       *Scenario
	ctl     *controls
	pr      *prober
	results []result
	samples []Sample
	changes []BreakerChange
	items   []item
	start   time.Time
	// unavailable are the operations this sidecar answered 503 "not
	// configured" for: an expectation only about them is skipped, not
	// failed, and the report says so.
	unavailable map[string]string
}

// skip marks res as not checkable because ops are unavailable, when they
// all are.
func (ev evaluator) skip(res *ExpectationResult, ops ...Operation) bool {
	var why []string
	for _, op := range ops {
		w, ok := ev.unavailable[string(op)]
		if !ok {
			return false
		}
		why = append(why, fmt.Sprintf("%s: %s", op, w))
	}
	res.Skipped, res.Passed = true, true
	res.Evidence = "not checked: unavailable on this sidecar (" + strings.Join(why, "; ") + ")"
	return true
}

func (ev evaluator) evaluate(e Expectation) ExpectationResult {
	switch {
	case e.CriticalSuccessRate != nil:
		r := e.CriticalSuccessRate
		name := fmt.Sprintf("critical_success_rate >= %g%s", r.Min, budgetWord(r.WithinBudget))
		res := ev.rate(name, r.Min, r.WithinBudget, func(x result) bool { return x.Op.Tier() == "critical" })
		if !res.Passed && strings.HasPrefix(res.Evidence, "no request") {
			ev.skip(&res, ev.inMix(OpScreenPop, OpDialogflow, OpRecording)...)
		}
		return res
	case e.SuccessRate != nil:
		r := e.SuccessRate
		name := fmt.Sprintf("success_rate %s >= %g%s", r.Operation, r.Min, budgetWord(r.WithinBudget))
		res := ev.rate(name, r.Min, r.WithinBudget, func(x result) bool { return x.Op == r.Operation })
		if !res.Passed && strings.HasPrefix(res.Evidence, "no request") {
			ev.skip(&res, r.Operation)
		}
		return res
	case e.BreakerOpens != nil:
		return ev.breakerOpens(e.BreakerOpens)
	case e.BreakerStaysClosed != nil:
		return ev.breakerStaysClosed(e.BreakerStaysClosed.Dependency)
	case e.NothingLost:
		return ev.nothingLost()
	case e.Recovers != nil:
		return ev.recovers(e.Recovers)
	case e.MaxP99 != nil:
		m := e.MaxP99
		var rs []result
		for _, r := range ev.results {
			if r.Op == m.Operation {
				rs = append(rs, r)
			}
		}
		st := summarize(ev.s, rs)
		res := ExpectationResult{Expectation: fmt.Sprintf("max_p99 %s <= %v", m.Operation, m.Value)}
		if st.Sent == 0 {
			res.Evidence = fmt.Sprintf("no %s request was answered", m.Operation)
			ev.skip(&res, m.Operation)
			return res
		}
		res.Passed = st.P99Ms <= ms(m.Value.D())
		res.Evidence = fmt.Sprintf("p99 %s over %d requests (p50 %s, max %s)", fmtMs(st.P99Ms), st.Sent, fmtMs(st.P50Ms), fmtMs(st.MaxMs))
		return res
	}
	return ExpectationResult{Expectation: "?", Evidence: "empty expectation"}
}

// dependencyOps are the operations that call each dependency.
var dependencyOps = map[string][]Operation{
	"crm":        {OpScreenPop, OpCRMWrite},
	"dialogflow": {OpDialogflow},
	"identity":   {OpIdentity},
	"blob":       {OpRecording},
	"redis":      {OpScreenPop},
}

// inMix returns those of ops the scenario sends.
func (ev evaluator) inMix(ops ...Operation) []Operation {
	var out []Operation
	for _, op := range ops {
		if ev.s.Mix.Weight(op) > 0 {
			out = append(out, op)
		}
	}
	return out
}

func budgetWord(b bool) string {
	if b {
		return " within budget"
	}
	return ""
}

func fmtMs(v float64) string {
	return time.Duration(v * float64(time.Millisecond)).Round(100 * time.Microsecond).String()
}

func (ev evaluator) at(t time.Time) string {
	return fmt.Sprintf("%s (+%.1fs)", t.Format("15:04:05.0"), t.Sub(ev.start).Seconds())
}

func (ev evaluator) rate(name string, minRate float64, budget bool, keep func(result) bool) ExpectationResult {
	var rs []result
	for _, r := range ev.results {
		if keep(r) {
			rs = append(rs, r)
		}
	}
	st := summarize(ev.s, rs)
	res := ExpectationResult{Expectation: name}
	if st.Sent == 0 {
		res.Evidence = "no request of this kind was answered (unavailable on this sidecar?)"
		return res
	}
	good, word := st.OK, "answered 2xx"
	if budget {
		good, word = st.WithinBudget, "answered 2xx within budget"
	}
	rate := float64(good) / float64(st.Sent)
	res.Passed = rate >= minRate
	res.Evidence = fmt.Sprintf("%d of %d %s (%.2f%%, want >= %.2f%%)", good, st.Sent, word, 100*rate, 100*minRate)
	if !res.Passed {
		var bad []string
		slowest := time.Duration(0)
		first := time.Time{}
		for _, r := range rs {
			if r.Unavailable || (budget && within(ev.s, r)) || (!budget && r.OK) {
				continue
			}
			why := r.Err
			if r.OK {
				why = "over budget"
				slowest = max(slowest, r.Latency)
			}
			bad = append(bad, string(r.Op)+": "+why)
			if first.IsZero() || r.Start.Before(first) {
				first = r.Start
			}
		}
		res.Evidence += "; misses: " + countList(bad)
		if slowest > 0 {
			res.Evidence += fmt.Sprintf("; slowest 2xx %v", slowest.Round(time.Millisecond))
		}
		res.Evidence += "; first at " + ev.at(first)
	}
	return res
}

// countList renders repeated strings as "a ×3, b ×1", most frequent first.
func countList(xs []string) string {
	n := map[string]int{}
	for _, x := range xs {
		n[x]++
	}
	keys := slices.Collect(maps.Keys(n))
	slices.SortFunc(keys, func(a, b string) int {
		if n[a] != n[b] {
			return n[b] - n[a]
		}
		return strings.Compare(a, b)
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s ×%d", k, n[k])
	}
	return strings.Join(out, ", ")
}

func (ev evaluator) breakerOpens(b *BreakerOpensExpectation) ExpectationResult {
	res := ExpectationResult{Expectation: fmt.Sprintf("breaker_opens %s within %v of the first fault", b.Dependency, b.Within)}
	f, ok := ev.ctl.firstFault(b.Dependency)
	if !ok {
		res.Evidence = "the fault on " + b.Dependency + " was never applied (see the timeline)"
		return res
	}
	for _, c := range ev.changes {
		// A second of slack before the fault: on staging the audit log's
		// clock is the sidecar's, not ours.
		if c.Dependency == b.Dependency && c.To == "open" && !c.Time.Before(f.Add(-time.Second)) {
			after := c.Time.Sub(f)
			res.Passed = after <= b.Within.D()
			res.Evidence = fmt.Sprintf("opened at %s, %.1fs after the fault at %s (from %s)", ev.at(c.Time), after.Seconds(), ev.at(f), c.Source)
			return res
		}
	}
	res.Evidence = fmt.Sprintf("never opened after the fault at %s; states seen: %s", ev.at(f), ev.statesSeen(b.Dependency))
	ev.skip(&res, dependencyOps[b.Dependency]...) // nothing called it
	return res
}

func (ev evaluator) statesSeen(dep string) string {
	var seen []string
	for _, s := range ev.samples {
		if st := s.Breakers[dep]; st != "" {
			seen = append(seen, st)
		}
	}
	if len(seen) == 0 {
		return "none (no status sample)"
	}
	return countList(seen)
}

func (ev evaluator) breakerStaysClosed(dep string) ExpectationResult {
	res := ExpectationResult{Expectation: "breaker_stays_closed " + dep}
	for _, c := range ev.changes {
		if c.Dependency == dep && c.To != "closed" {
			res.Evidence = fmt.Sprintf("went %s -> %s at %s (from %s)", c.From, c.To, ev.at(c.Time), c.Source)
			return res
		}
	}
	for _, s := range ev.samples {
		if st := s.Breakers[dep]; st != "" && st != "closed" {
			res.Evidence = fmt.Sprintf("sampled %s at %s", st, ev.at(s.Time))
			return res
		}
	}
	res.Passed = true
	res.Evidence = "closed in every status sample: " + ev.statesSeen(dep)
	return res
}

func (ev evaluator) nothingLost() ExpectationResult {
	res := ExpectationResult{Expectation: "nothing_lost"}
	by := map[string]int{}
	kinds := map[string]int{}
	var oldest time.Time
	var lastErr string
	for _, it := range ev.items {
		by[it.State]++
		kinds[it.Kind]++
		if it.State != "done" {
			if oldest.IsZero() || it.AcceptedAt.Before(oldest) {
				oldest = it.AcceptedAt
			}
			if it.LastError != "" {
				lastErr = it.LastError
			}
		}
	}
	var parts []string
	for _, k := range []string{"record", "comment", "recording"} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %ss", kinds[k], k))
		}
	}
	accepted := fmt.Sprintf("%d accepted (%s)", len(ev.items), strings.Join(parts, ", "))
	if len(ev.items) == 0 {
		res.Evidence = "nothing was accepted, so nothing could be checked"
		ev.skip(&res, ev.inMix(OpCRMWrite, OpRecording)...)
		return res
	}
	if by["done"] == len(ev.items) {
		res.Passed = true
		res.Evidence = accepted + ": all in the CRM"
		return res
	}
	res.Evidence = fmt.Sprintf("%s: %d done, %d pending, %d inflight, %d dead, %d missing; oldest not done accepted at %s",
		accepted, by["done"], by["pending"], by["inflight"], by["dead"], by["missing"], ev.at(oldest))
	if lastErr != "" {
		res.Evidence += "; last error: " + lastErr
	}
	return res
}

func (ev evaluator) recovers(r *RecoversExpectation) ExpectationResult {
	what := "its breaker closed"
	if r.Source != "" {
		what = "fresh probes answered source " + r.Source
	}
	res := ExpectationResult{Expectation: fmt.Sprintf("recovers %s (%s) within %v", r.Dependency, what, r.Within)}
	c, ok := ev.ctl.clearedAt(r.Dependency)
	if !ok {
		res.Evidence = "the drill never disturbed " + r.Dependency + " (see the timeline)"
		return res
	}
	var back time.Time
	if r.Source != "" {
		if p, ok := ev.pr.recoveredAt(r.Dependency, r.Source, c); ok {
			back = p.Time
		}
	} else if t, ok := breakerClosedAt(ev.samples, r.Dependency, c); ok {
		back = t
	}
	if back.IsZero() && r.Source != "" && ev.skip(&res, probeOps[r.Dependency]) {
		return res
	}
	if back.IsZero() {
		res.Evidence = fmt.Sprintf("not by the end of the drill; disturbance cleared at %s", ev.at(c))
		if r.Source != "" {
			res.Evidence += "; probe answers since: " + fmtCounts(ev.pr.sourcesSince(r.Dependency, c))
		} else {
			res.Evidence += "; breaker states seen: " + ev.statesSeen(r.Dependency)
		}
		return res
	}
	after := back.Sub(c)
	res.Passed = after <= r.Within.D()
	res.Evidence = fmt.Sprintf("back at %s, %.1fs after the disturbance cleared at %s", ev.at(back), after.Seconds(), ev.at(c))
	return res
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var xs []string
	for k, v := range m {
		for range v {
			xs = append(xs, k)
		}
	}
	return countList(xs)
}
