package drill

import (
	"errors"
	"fmt"

	"github.com/holdline/holdline/gateway/adminapi"
)

// ErrDirty is returned (wrapped with ErrSetup, naming what is dirty) by
// Run when the sidecar is not at a clean baseline before the drill and
// Options.Force is not set: a drill that starts on a degraded dependency
// would count the existing damage as its own.
var ErrDirty = errors.New("the baseline is not clean")

// DefaultMaxBaselineErrorRate is the failure rate (last minute) above
// which a dependency is not a clean baseline.
const DefaultMaxBaselineErrorRate = 0.05

// minBaselineCalls is how many calls in the last minute a failure rate
// needs before it counts: one failed call of two is not a trend.
const minBaselineCalls = 10

// dirtyBaseline names every way st is not a clean starting point: a
// breaker not closed, a breaker forced by an operator, active faults, a
// failure rate at or above maxRate, refused credentials, dead outbox jobs.
func dirtyBaseline(st *adminapi.Status, maxRate float64) []string {
	var dirty []string
	for _, d := range st.Dependencies {
		if d.Breaker != "" && d.Breaker != "closed" {
			dirty = append(dirty, fmt.Sprintf("%s: breaker %s", d.Name, d.Breaker))
		}
		if d.BreakerMode != "" && d.BreakerMode != "auto" {
			dirty = append(dirty, fmt.Sprintf("%s: breaker forced %s by an operator", d.Name, d.BreakerMode))
		}
		if d.ActiveFaults > 0 {
			dirty = append(dirty, fmt.Sprintf("%s: %d active fault(s)", d.Name, d.ActiveFaults))
		}
		if d.Calls1m >= minBaselineCalls && d.FailureRate1m >= maxRate {
			dirty = append(dirty, fmt.Sprintf("%s: failure rate %.0f%% over the last minute (threshold %.0f%%)", d.Name, 100*d.FailureRate1m, 100*maxRate))
		}
		if d.Auth == adminapi.DependencyStatusAuthAuthFailed {
			dirty = append(dirty, fmt.Sprintf("%s: credentials refused (auth_failed)", d.Name))
		}
	}
	if st.Outbox != nil && st.Outbox.Dead > 0 {
		dirty = append(dirty, fmt.Sprintf("outbox: %d dead job(s)", st.Outbox.Dead))
	}
	return dirty
}
