package drill

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is what a drill found. It answers three questions: what still
// worked while dependencies were disturbed (Operations, Tiers), what broke
// that the scenario did not expect (Unexpected, from Expectations and the
// timeline), and what was lost or delayed (Lost).
type Report struct {
	Scenario    string    `json:"scenario"`
	Description string    `json:"description,omitempty"`
	RunID       string    `json:"run_id"`
	Admin       string    `json:"admin"`
	Target      string    `json:"target"`
	Started     time.Time `json:"started_at"`
	Ended       time.Time `json:"ended_at"`
	Seconds     float64   `json:"duration_seconds"`
	Passed      bool      `json:"passed"`
	Interrupted bool      `json:"interrupted,omitempty"`
	// Forced says the drill ran with --force on a baseline that was not
	// clean; Dirty names what was dirty. The verdict says FORCED: read
	// its results knowing the damage may predate the drill.
	Forced bool     `json:"forced,omitempty"`
	Dirty  []string `json:"dirty_baseline,omitempty"`

	Timeline []Action `json:"timeline"`
	// Disturbed is when the drill first and last disturbed a dependency:
	// the phases "before", "during" and "after" are cut there.
	Disturbed struct {
		From *time.Time `json:"from,omitempty"`
		To   *time.Time `json:"to,omitempty"`
	} `json:"disturbed"`
	Operations  []OpReport        `json:"operations"`
	Tiers       []OpReport        `json:"tiers"`
	Unavailable map[string]string `json:"unavailable,omitempty"` // operation -> why
	Breakers    []BreakerChange   `json:"breaker_changes"`

	Expectations []ExpectationResult `json:"expectations"`
	Unexpected   []string            `json:"unexpected"`
	Lost         LostReport          `json:"lost_or_delayed"`
	Events       []Event             `json:"events,omitempty"`
	Cleanup      []string            `json:"cleanup"`
	Samples      []Sample            `json:"samples"`
}

// OpReport is one operation's (or tier's) figures, over the whole run and
// per phase.
type OpReport struct {
	Name     string           `json:"name"`
	Tier     string           `json:"tier"`
	BudgetMs float64          `json:"budget_ms,omitempty"`
	All      Stats            `json:"all"`
	Phases   map[string]Stats `json:"phases"`
}

// ExpectationResult is one expectation and the evidence for its verdict.
type ExpectationResult struct {
	Expectation string `json:"expectation"`
	Passed      bool   `json:"passed"`
	Skipped     bool   `json:"skipped,omitempty"` // not checkable on this sidecar; does not fail the drill
	Evidence    string `json:"evidence"`
}

// LostReport says what the sidecar accepted and where it stands.
type LostReport struct {
	Accepted int            `json:"accepted"`
	ByState  map[string]int `json:"by_state"`
	// OldestUnsettledSeconds is the age of the oldest accepted item not
	// yet done (pending, inflight, dead or missing).
	OldestUnsettledSeconds float64       `json:"oldest_unsettled_age_seconds"`
	NotDone                []item        `json:"not_done,omitempty"`
	OutboxAtEnd            *outboxStatus `json:"outbox_at_end,omitempty"`
}

// Phases, in order.
var phases = []string{"before", "during", "after"}

func (rep *Report) build(s *Scenario, ctl *controls, t *target, pr *prober, results []result, samples []Sample, events []Event, changes []BreakerChange, trafficEnd time.Time) {
	rep.Ended = time.Now()
	rep.Seconds = rep.Ended.Sub(rep.Started).Round(100 * time.Millisecond).Seconds()
	ctl.mu.Lock()
	rep.Timeline = slices.Clone(ctl.actions)
	ctl.mu.Unlock()
	from, to := ctl.window()
	if !from.IsZero() {
		rep.Disturbed.From, rep.Disturbed.To = &from, &to
	}
	phase := func(r result) string {
		switch {
		case from.IsZero() || r.Start.Before(from):
			return "before"
		case r.Start.Before(to):
			return "during"
		}
		return "after"
	}
	group := func(name, tier string, budget time.Duration, keep func(result) bool) OpReport {
		var all []result
		by := map[string][]result{}
		for _, r := range results {
			if keep(r) {
				all = append(all, r)
				by[phase(r)] = append(by[phase(r)], r)
			}
		}
		o := OpReport{Name: name, Tier: tier, All: summarize(s, all), Phases: map[string]Stats{}}
		if budget > 0 {
			o.BudgetMs = ms(budget)
		}
		for _, p := range phases {
			if len(by[p]) > 0 {
				o.Phases[p] = summarize(s, by[p])
			}
		}
		return o
	}
	t.mu.Lock()
	rep.Unavailable = map[string]string{}
	for op, why := range t.unavailable {
		rep.Unavailable[string(op)] = why
	}
	t.mu.Unlock()
	for _, op := range Operations {
		if s.Mix.Weight(op) <= 0 {
			continue
		}
		rep.Operations = append(rep.Operations, group(string(op), op.Tier(), s.Budgets.Budget(op), func(r result) bool { return r.Op == op }))
	}
	for _, tier := range []string{"critical", "supporting"} {
		sent := map[Operation]bool{}
		for _, r := range results {
			if r.Op.Tier() == tier && !r.Unavailable {
				sent[r.Op] = true
			}
		}
		if len(sent) > 1 { // a tier of one operation is that operation's row
			rep.Tiers = append(rep.Tiers, group(tier, tier, 0, func(r result) bool { return r.Op.Tier() == tier }))
		}
	}
	rep.Breakers = changes
	rep.Events = events
	rep.Samples = samples

	// What was lost or delayed.
	items := t.ledger.snapshot()
	rep.Lost = LostReport{Accepted: len(items), ByState: map[string]int{}}
	for _, it := range items {
		rep.Lost.ByState[it.State]++
		if it.State != "done" {
			rep.Lost.NotDone = append(rep.Lost.NotDone, it)
			rep.Lost.OldestUnsettledSeconds = max(rep.Lost.OldestUnsettledSeconds, rep.Ended.Sub(it.AcceptedAt).Round(100*time.Millisecond).Seconds())
		}
	}
	for i := len(samples) - 1; i >= 0; i-- {
		if samples[i].Outbox != nil {
			rep.Lost.OutboxAtEnd = samples[i].Outbox
			break
		}
	}

	// What broke that the scenario did not expect.
	ev := evaluator{s: s, ctl: ctl, pr: pr, results: results, samples: samples, changes: changes, items: items, start: rep.Started, unavailable: rep.Unavailable}
	rep.Passed = true
	rep.Unexpected = []string{}
	for _, a := range rep.Timeline {
		if a.Error != "" {
			rep.Passed = false
			rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("timeline at %s: %s %s could not be applied: %s", a.Offset, a.Kind, a.Dependency, a.Error))
		}
	}
	for _, e := range s.Expectations {
		r := ev.evaluate(e)
		rep.Expectations = append(rep.Expectations, r)
		if !r.Passed {
			rep.Passed = false
			rep.Unexpected = append(rep.Unexpected, r.Expectation+": "+r.Evidence)
		}
	}
	for _, c := range rep.Cleanup {
		if strings.Contains(c, "FAILED") {
			rep.Passed = false
			rep.Unexpected = append(rep.Unexpected, "cleanup: "+c)
		}
	}
}

// WriteFile writes the report as indented JSON.
func (rep *Report) WriteFile(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("drill: write report: %w", err)
	}
	return nil
}
