package drill

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestWriteTable compares WriteTable's output for reports covering each
// of its branches with the golden files in testdata/table (go test
// -run TestWriteTable -update rewrites them).
func TestWriteTable(t *testing.T) {
	for name, rep := range map[string]*Report{
		"passed":      passedReport(),
		"failed":      failedReport(),
		"interrupted": interruptedReport(),
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := rep.WriteTable(&b); err != nil {
				t.Fatalf("WriteTable: %v", err)
			}
			path := filepath.Join("testdata", "table", name+".txt")
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("WriteTable (-%s +got):\n%s", path, diff)
			}
		})
	}
}

var tableStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time {
	return tableStart.Add(time.Duration(sec * float64(time.Second)))
}

// passedReport is a clean drill with no timeline and one quiet operation.
func passedReport() *Report {
	st := Stats{Sent: 20, OK: 20, WithinBudget: 20, SuccessRate: 1, WithinBudgetRate: 1, P50Ms: 3.2, P99Ms: 9.8, Sources: map[string]int{"fresh": 20}}
	return &Report{
		Scenario: "quiet", RunID: "abcd1234", Target: "http://127.0.0.1:8080", Started: tableStart, Seconds: 10, Passed: true,
		Operations:   []OpReport{{Name: "screen_pop", Tier: "critical", BudgetMs: 300, All: st, Phases: map[string]Stats{"before": st}}},
		Tiers:        []OpReport{{Name: "critical", Tier: "critical", All: st, Phases: map[string]Stats{"before": st}}},
		Expectations: []ExpectationResult{{Expectation: "screen_pop success >= 99%", Passed: true, Evidence: "100.0% of 20"}},
		Lost:         LostReport{ByState: map[string]int{}},
	}
}

// failedReport is a forced drill that exercises every section: a
// multi-line description, dirty baseline, actions that applied and
// failed, breaker changes, events, phases, unavailable operations,
// unexpected breakage, skipped and failed expectations, more than ten
// unsettled items, the outbox at the end and cleanup.
func failedReport() *Report {
	from, to := at(5), at(35)
	during := Stats{Sent: 300, OK: 240, WithinBudget: 200, Failed: 60, SuccessRate: 0.8, WithinBudgetRate: 0.6667, P50Ms: 120, P99Ms: 1500, Degraded: 90, DegradedShare: 0.3,
		Sources: map[string]int{"stale": 60, "fresh": 150, "minimal": 30}, Reasons: map[string]int{"breaker_open": 80, "timeout": 10}, Errors: map[string]int{"503": 60}}
	before := Stats{Sent: 50, OK: 50, WithinBudget: 50, SuccessRate: 1, WithinBudgetRate: 1, P50Ms: 4, P99Ms: 12, Sources: map[string]int{"fresh": 50}}
	all := Stats{Sent: 350, OK: 290, WithinBudget: 250, Failed: 60, SuccessRate: 0.8286, WithinBudgetRate: 0.7143, P50Ms: 90, P99Ms: 1400, Degraded: 90, DegradedShare: 0.2571,
		Sources: map[string]int{"stale": 60, "fresh": 200, "minimal": 30}, Reasons: map[string]int{"breaker_open": 80, "timeout": 10}, Errors: map[string]int{"503": 60}}
	writes := Stats{Sent: 40, OK: 40, SuccessRate: 1, P50Ms: 0.4, P99Ms: 2}
	var notDone []item
	for i := range 12 {
		it := item{Interaction: fmt.Sprintf("int-%02d", i), Kind: "comment", JobID: fmt.Sprintf("job-%02d", i), State: "pending", LastError: "crm: breaker open"}
		if i == 1 {
			it.Kind, it.RecordingID, it.State, it.LastError = "recording", "rec-01", "dead", "blob: 503"
		}
		notDone = append(notDone, it)
	}
	rep := &Report{
		Scenario: "crm-outage", Description: "The CRM fails for 30s.\nScreen pops must degrade, writes must queue.\n",
		RunID: "feed0001", Target: "http://127.0.0.1:8080", Started: tableStart, Seconds: 62.4, Forced: true,
		Dirty: []string{"crm: breaker half-open", "outbox: 2 dead job(s)"},
		Timeline: []Action{
			{At: 5 * time.Second, Offset: "5s", Time: at(5), Kind: "fault", Dependency: "crm", Detail: "error_rate 1 (status 503), for 30s", FaultID: "f1"},
			{At: 20 * time.Second, Offset: "20s", Time: at(20.25), Kind: "breaker", Dependency: "blob", Detail: "mode open", Error: "PUT /v1/admin/dependencies/blob/breaker: 401 Unauthorized"},
		},
		Operations: []OpReport{
			{Name: "screen_pop", Tier: "critical", BudgetMs: 300, All: all, Phases: map[string]Stats{"before": before, "during": during}},
			{Name: "comment", Tier: "supporting", All: writes, Phases: map[string]Stats{"during": writes}},
			{Name: "identity", Tier: "supporting", All: Stats{}, Phases: map[string]Stats{}},
		},
		Tiers:        []OpReport{{Name: "critical", Tier: "critical", All: all, Phases: map[string]Stats{"before": before, "during": during}}},
		Unavailable:  map[string]string{"identity": "identity is not configured on this sidecar", "dialogflow": "no Dialogflow agent aliases configured"},
		Breakers:     []BreakerChange{{Time: at(7.5), Dependency: "crm", From: "closed", To: "open", Source: "audit"}, {Time: at(40), Dependency: "crm", From: "open", To: "half-open", Source: "status"}},
		Expectations: []ExpectationResult{{Expectation: "screen_pop success >= 99%", Passed: false, Evidence: "82.9% of 350"}, {Expectation: "identity p99 <= 50ms", Skipped: true, Evidence: "identity is unavailable"}, {Expectation: "nothing lost", Passed: true, Evidence: "0 missing"}},
		Unexpected:   []string{"screen_pop success 82.9% < 99%", "blob breaker action failed"},
		Lost: LostReport{
			Accepted: 52, ByState: map[string]int{"done": 40, "pending": 11, "dead": 1}, OldestUnsettledSeconds: 75.5, NotDone: notDone,
			OutboxAtEnd: &outboxStatus{Pending: 11, Dead: 3, Blocked: 2, OldestPendingAge: 75.4},
		},
		Events:  []Event{{Time: at(30), What: "target restarted (started_at ...)"}},
		Cleanup: []string{"1 fault(s) created by the drill removed or expired", "blob breaker back to auto"},
	}
	rep.Disturbed.From, rep.Disturbed.To = &from, &to
	return rep
}

// interruptedReport is a drill stopped with Ctrl-C before any traffic.
func interruptedReport() *Report {
	return &Report{
		Scenario: "crm-outage", RunID: "feed0002", Target: "http://127.0.0.1:8080", Started: tableStart, Seconds: 1.2, Interrupted: true,
		Lost:    LostReport{ByState: map[string]int{}},
		Cleanup: []string{"nothing to undo"},
	}
}
