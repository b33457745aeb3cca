package drill

import (
	"math"
	"slices"
	"time"
)

// Stats summarize a set of requests: how many worked, how fast, how
// degraded and why.
type Stats struct {
	Sent             int            `json:"sent"`
	OK               int            `json:"ok"` // answered 2xx
	WithinBudget     int            `json:"within_budget"`
	Failed           int            `json:"failed"`
	SuccessRate      float64        `json:"success_rate"`
	WithinBudgetRate float64        `json:"within_budget_rate"`
	P50Ms            float64        `json:"p50_ms"`
	P99Ms            float64        `json:"p99_ms"`
	MaxMs            float64        `json:"max_ms"`
	Degraded         int            `json:"degraded"`
	DegradedShare    float64        `json:"degraded_share"`
	Sources          map[string]int `json:"sources,omitempty"`
	Reasons          map[string]int `json:"reasons,omitempty"`
	Errors           map[string]int `json:"errors,omitempty"`
	FirstFailure     *time.Time     `json:"first_failure,omitempty"`
}

// within reports whether r worked within its budget (plus slack); an
// operation without a budget only needs to have worked.
func within(s *Scenario, r result) bool {
	if !r.OK {
		return false
	}
	b := s.Budgets.Budget(r.Op)
	return b == 0 || r.Latency <= b+s.BudgetSlack.D()
}

func summarize(s *Scenario, rs []result) Stats {
	st := Stats{Sources: map[string]int{}, Reasons: map[string]int{}, Errors: map[string]int{}}
	var lat []time.Duration
	for _, r := range rs {
		if r.Unavailable {
			continue
		}
		st.Sent++
		if r.OK {
			st.OK++
			lat = append(lat, r.Latency)
			if r.Source != "" {
				st.Sources[r.Source]++
			}
			if r.Degraded {
				st.Degraded++
			}
			for _, why := range r.Reasons {
				st.Reasons[why]++
			}
		} else {
			st.Failed++
			st.Errors[r.Err]++
			if st.FirstFailure == nil || r.Start.Before(*st.FirstFailure) {
				t := r.Start
				st.FirstFailure = &t
			}
			if r.Latency > 0 {
				lat = append(lat, r.Latency)
			}
		}
		if within(s, r) {
			st.WithinBudget++
		}
	}
	if st.Sent > 0 {
		st.SuccessRate = float64(st.OK) / float64(st.Sent)
		st.WithinBudgetRate = float64(st.WithinBudget) / float64(st.Sent)
	}
	if st.OK > 0 {
		st.DegradedShare = float64(st.Degraded) / float64(st.OK)
	}
	slices.Sort(lat)
	st.P50Ms, st.P99Ms = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		st.MaxMs = ms(lat[len(lat)-1])
	}
	return st
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*10) / 10 }
