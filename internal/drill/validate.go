package drill

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// Limits a scenario must stay within: a drill is an exercise, not a soak.
const (
	MaxDuration = time.Hour
	MaxRate     = 1000
)

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })

// sources lists, per dependency, the sources a recovery probe may answer
// from. A dependency absent here has no probe: recovers then waits for its
// breaker to close.
var sources = map[string][]string{
	"crm":        {"crm", "cache", "stale", "minimal"},
	"dialogflow": {"dialogflow", "fallback"},
	"identity":   {"jwt", "introspection", "cache"},
	"blob":       {"gcs", "dir", "spool"},
}

// Validate returns every problem with s, each naming its key path. Parse
// calls it after applying defaults.
func (s *Scenario) Validate() []*Problem {
	var ps []*Problem
	bad := func(path, format string, args ...any) {
		ps = append(ps, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE().MatchString(s.Name) {
		bad("name", "%q: want 1-64 lowercase letters, digits, '.', '_' or '-'", s.Name)
	}
	if s.Duration <= 0 || s.Duration.D() > MaxDuration {
		bad("duration", "must be between 1s and %v", MaxDuration)
	}
	if s.Rate <= 0 || s.Rate > MaxRate {
		bad("rate", "must be between 0 and %d requests per second", MaxRate)
	}
	if s.MaxInFlight < 1 || s.MaxInFlight > 10000 {
		bad("max_in_flight", "must be between 1 and 10000")
	}
	total := 0.0
	for _, op := range Operations {
		w := s.Mix.Weight(op)
		if w < 0 {
			bad("mix."+string(op), "must not be negative")
		}
		total += max(w, 0)
	}
	if total == 0 {
		bad("mix", "give at least one operation a positive weight (screen_pop, crm_write, recording, dialogflow, identity)")
	}
	affected := map[string]bool{} // dependencies the timeline disturbs
	faulted := map[string]bool{}
	for i, st := range s.Timeline {
		p := fmt.Sprintf("timeline[%d]", i)
		if st.At.D() >= s.Duration.D() && s.Duration > 0 {
			bad(p+".at", "%v is not before the end of the drill (duration %v)", st.At, s.Duration)
		}
		n := 0
		if st.Fault != nil {
			n++
			s.validateFault(p+".fault", st.Fault, bad)
			affected[st.Fault.Dependency], faulted[st.Fault.Dependency] = true, true
		}
		if st.ClearFaults {
			n++
		}
		if b := st.Breaker; b != nil {
			n++
			validDependency(p+".breaker.dependency", b.Dependency, bad)
			if !slices.Contains([]string{"open", "closed", "auto"}, b.Mode) {
				bad(p+".breaker.mode", "%q: want open, closed or auto", b.Mode)
			}
			affected[b.Dependency] = true
		}
		if f := st.Failover; f != nil {
			n++
			validDependency(p+".failover.dependency", f.Dependency, bad)
			if f.To != "primary" && f.To != "secondary" {
				bad(p+".failover.to", "%q: want primary or secondary", f.To)
			}
			affected[f.Dependency] = true
		}
		if n != 1 {
			bad(p, "give exactly one of fault, clear_faults, breaker or failover (found %d)", n)
		}
	}
	for i, e := range s.Expectations {
		s.validateExpectation(fmt.Sprintf("expectations[%d]", i), e, affected, faulted, bad)
	}
	return ps
}

func validDependency(path, dep string, bad func(string, string, ...any)) bool {
	if !slices.Contains(config.Names, dep) {
		bad(path, "%q: want one of %v", dep, config.Names)
		return false
	}
	return true
}

func (s *Scenario) validateFault(p string, f *FaultAction, bad func(string, string, ...any)) {
	validDependency(p+".dependency", f.Dependency, bad)
	switch {
	case f.Duration <= 0:
		bad(p+".duration", "required: how long the fault lasts (it expires by itself)")
	case f.Duration.D() > 24*time.Hour:
		bad(p+".duration", "must be at most 24h")
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		bad(p+".error_rate", "must be between 0 and 1")
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		bad(p+".status", "must be between 400 and 599")
	}
	if f.Latency == 0 && f.ErrorRate == 0 {
		bad(p, "a fault needs latency or a positive error_rate")
	}
	if f.Endpoint != "" && f.Endpoint != "primary" && f.Endpoint != "secondary" {
		bad(p+".endpoint", "must be primary or secondary (or absent: every call)")
	}
	if (f.Status != 0 || f.Reset) && f.ErrorRate == 0 {
		bad(p+".error_rate", "status and reset apply to failed calls: give error_rate too")
	}
}

func (s *Scenario) validateExpectation(p string, e Expectation, affected, faulted map[string]bool, bad func(string, string, ...any)) {
	n := 0
	if r := e.CriticalSuccessRate; r != nil {
		n++
		if r.Min <= 0 || r.Min > 1 {
			bad(p+".critical_success_rate.min", "must be in (0, 1], e.g. 0.999")
		}
		if s.Mix.ScreenPop+s.Mix.Dialogflow+s.Mix.Recording <= 0 {
			bad(p+".critical_success_rate", "the mix sends no critical operation (screen_pop, dialogflow, recording)")
		}
	}
	if r := e.SuccessRate; r != nil {
		n++
		s.validOperation(p+".success_rate.operation", r.Operation, bad)
		if r.Min <= 0 || r.Min > 1 {
			bad(p+".success_rate.min", "must be in (0, 1], e.g. 0.99")
		}
	}
	if b := e.BreakerOpens; b != nil {
		n++
		if validDependency(p+".breaker_opens.dependency", b.Dependency, bad) && !faulted[b.Dependency] {
			bad(p+".breaker_opens.dependency", "the timeline has no fault on %s", b.Dependency)
		}
		if b.Within <= 0 {
			bad(p+".breaker_opens.within", "required: how soon after the first fault, e.g. 5s")
		}
	}
	if b := e.BreakerStaysClosed; b != nil {
		n++
		validDependency(p+".breaker_stays_closed.dependency", b.Dependency, bad)
	}
	if e.NothingLost {
		n++
		if s.Mix.CRMWrite+s.Mix.Recording <= 0 {
			bad(p+".nothing_lost", "the mix sends no writes (crm_write, recording)")
		}
	}
	if r := e.Recovers; r != nil {
		n++
		if validDependency(p+".recovers.dependency", r.Dependency, bad) {
			if !affected[r.Dependency] {
				bad(p+".recovers.dependency", "the timeline does nothing to %s", r.Dependency)
			}
			if want, ok := sources[r.Dependency]; r.Source != "" && !slices.Contains(want, r.Source) {
				if ok {
					bad(p+".recovers.source", "%q: %s answers from one of %v", r.Source, r.Dependency, want)
				} else {
					bad(p+".recovers.source", "%s has no probe: leave source out to wait for its breaker to close", r.Dependency)
				}
			}
		}
		if r.Within <= 0 {
			bad(p+".recovers.within", "required: how soon after the faults clear, e.g. 10s")
		}
	}
	if m := e.MaxP99; m != nil {
		n++
		s.validOperation(p+".max_p99.operation", m.Operation, bad)
		if m.Value <= 0 {
			bad(p+".max_p99.value", "required: a latency such as 500ms")
		}
	}
	if n != 1 {
		bad(p, "give exactly one of critical_success_rate, success_rate, breaker_opens, breaker_stays_closed, nothing_lost, recovers or max_p99 (found %d)", n)
	}
}

func (s *Scenario) validOperation(path string, op Operation, bad func(string, string, ...any)) {
	if !slices.Contains(Operations, op) {
		bad(path, "%q: want one of %v", op, Operations)
		return
	}
	if s.Mix.Weight(op) <= 0 {
		bad(path, "%s has no weight in mix", op)
	}
}
