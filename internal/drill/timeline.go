package drill

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
)

// Action is one thing the drill did to the sidecar, for the report.
type Action struct {
	At         time.Duration `json:"-"`
	Offset     string        `json:"at"`   // offset from the start, e.g. "3s"
	Time       time.Time     `json:"time"` // when it was applied
	Kind       string        `json:"action"`
	Dependency string        `json:"dependency,omitempty"`
	Detail     string        `json:"detail"`
	FaultID    string        `json:"fault_id,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// appliedFault is a fault the drill created.
type appliedFault struct {
	id, dep          string
	created, expires time.Time
	removed          time.Time // zero until deleted
}

// interval is a stretch of time during which the drill disturbed a
// dependency (a fault, a forced breaker, a failover); to is zero while it
// lasts.
type interval struct {
	dep, kind string
	from, to  time.Time
}

// controls applies timeline steps through the admin API and remembers
// what it did, so cleanup can undo it all.
type controls struct {
	admin    *adminAPI
	scenario string
	initial  map[string]adminapi.DependencyStatus // before the drill

	mu        sync.Mutex
	faults    []*appliedFault
	intervals []*interval
	actions   []Action
	touched   map[string]map[string]string // dep -> "breaker"/"endpoint" -> the value last set
}

func newControls(admin *adminAPI, scenario string, initial map[string]adminapi.DependencyStatus) *controls {
	return &controls{admin: admin, scenario: scenario, initial: initial, touched: map[string]map[string]string{}}
}

func (c *controls) reason(given, what string) string {
	if given != "" {
		return given
	}
	return fmt.Sprintf("holdline drill %s: %s", c.scenario, what)
}

// apply runs one step now.
func (c *controls) apply(ctx context.Context, offset time.Duration, st Step) {
	a := Action{At: offset, Offset: offset.String(), Time: time.Now()}
	var err error
	switch {
	case st.Fault != nil:
		f := st.Fault
		a.Kind, a.Dependency = "fault", f.Dependency
		a.Detail = describeFault(f)
		var out *adminapi.Fault
		if out, err = c.admin.addFault(ctx, f, c.reason("", "fault")); err == nil {
			a.FaultID = out.Id
			c.mu.Lock()
			c.faults = append(c.faults, &appliedFault{id: out.Id, dep: f.Dependency, created: a.Time, expires: a.Time.Add(f.Duration.D())})
			c.intervals = append(c.intervals, &interval{dep: f.Dependency, kind: "fault:" + out.Id, from: a.Time, to: a.Time.Add(f.Duration.D())})
			c.mu.Unlock()
		}
	case st.ClearFaults:
		a.Kind, a.Detail = "clear_faults", "remove every fault this drill created"
		err = c.removeFaults(ctx)
	case st.Breaker != nil:
		b := st.Breaker
		a.Kind, a.Dependency, a.Detail = "breaker", b.Dependency, "mode "+b.Mode
		err = c.put(ctx, b.Dependency, "breaker", b.Mode, c.reason(b.Reason, "force breaker "+b.Mode))
		if err == nil {
			c.disturb(b.Dependency, "breaker", b.Mode != string(c.initial[b.Dependency].BreakerMode), a.Time)
		}
	case st.Failover != nil:
		f := st.Failover
		a.Kind, a.Dependency, a.Detail = "failover", f.Dependency, "to "+f.To
		err = c.put(ctx, f.Dependency, "endpoint", f.To, c.reason(f.Reason, "fail over to "+f.To))
		if err == nil {
			c.disturb(f.Dependency, "endpoint", f.To != string(c.initial[f.Dependency].ActiveEndpoint), a.Time)
		}
	}
	if err != nil {
		a.Error = err.Error()
	}
	c.mu.Lock()
	c.actions = append(c.actions, a)
	c.mu.Unlock()
}

func describeFault(f *FaultAction) string {
	s := ""
	if f.Latency > 0 {
		s += "latency " + f.Latency.String() + ", "
	}
	if f.ErrorRate > 0 {
		s += fmt.Sprintf("error_rate %g", f.ErrorRate)
		if f.Status != 0 {
			s += fmt.Sprintf(" (status %d)", f.Status)
		}
		if f.Reset {
			s += " (reset)"
		}
		s += ", "
	}
	if f.Endpoint != "" {
		s += "on the " + f.Endpoint + " only, "
	}
	return s + "for " + f.Duration.String()
}

// put sets dep's "breaker" mode or active "endpoint" to value, and
// remembers it for cleanup.
func (c *controls) put(ctx context.Context, dep, what, value, reason string) error {
	var err error
	if what == "breaker" {
		err = c.admin.setBreaker(ctx, dep, value, reason)
	} else {
		err = c.admin.setEndpoint(ctx, dep, value, reason)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.touched[dep] == nil {
		c.touched[dep] = map[string]string{}
	}
	if err != nil {
		value = "unknown" // it may have been applied: restore it anyway
	}
	c.touched[dep][what] = value
	return err
}

// disturb opens (on) or closes (!on) the dependency's interval of kind.
func (c *controls) disturb(dep, kind string, on bool, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, iv := range c.intervals {
		if iv.dep == dep && iv.kind == kind && iv.to.IsZero() {
			if !on {
				iv.to = at
			}
			return
		}
	}
	if on {
		c.intervals = append(c.intervals, &interval{dep: dep, kind: kind, from: at})
	}
}

// removeFaults deletes every fault the drill created and has not deleted
// yet. A 404 means it expired, or the sidecar restarted and forgot it:
// either way it is gone.
func (c *controls) removeFaults(ctx context.Context) error {
	c.mu.Lock()
	var todo []*appliedFault
	for _, f := range c.faults {
		if f.removed.IsZero() {
			todo = append(todo, f)
		}
	}
	c.mu.Unlock()
	var firstErr error
	for _, f := range todo {
		err := c.admin.deleteFault(ctx, f.id)
		if err != nil && !isStatus(err, http.StatusNotFound) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		now := time.Now()
		c.mu.Lock()
		f.removed = now
		for _, iv := range c.intervals {
			if iv.kind == "fault:"+f.id && now.Before(iv.to) {
				iv.to = now
			}
		}
		c.mu.Unlock()
	}
	return firstErr
}

// cleanup removes every fault the drill created and puts back the breaker
// modes and endpoints it changed. It returns what it did, for the report.
func (c *controls) cleanup(ctx context.Context) []string {
	var done []string
	if err := c.removeFaults(ctx); err != nil {
		done = append(done, "removing faults: "+err.Error())
	}
	c.mu.Lock()
	deps := make([]string, 0, len(c.touched))
	for d := range c.touched {
		deps = append(deps, d)
	}
	c.mu.Unlock()
	slices.Sort(deps)
	for _, dep := range deps {
		init := c.initial[dep]
		c.mu.Lock()
		t := maps.Clone(c.touched[dep])
		c.mu.Unlock()
		mode, ep := string(init.BreakerMode), string(init.ActiveEndpoint)
		if mode == "" {
			mode = "auto"
		}
		if ep == "" {
			ep = "primary"
		}
		if last, ok := t["breaker"]; ok && last != mode {
			err := c.put(ctx, dep, "breaker", mode, c.reason("", "drill ended, breaker back to "+mode))
			done = append(done, outcome(fmt.Sprintf("%s breaker back to %s", dep, mode), err))
			if err == nil {
				c.disturb(dep, "breaker", false, time.Now())
			}
		}
		if last, ok := t["endpoint"]; ok && last != ep {
			err := c.put(ctx, dep, "endpoint", ep, c.reason("", "drill ended, back to "+ep))
			done = append(done, outcome(fmt.Sprintf("%s endpoint back to %s", dep, ep), err))
			if err == nil {
				c.disturb(dep, "endpoint", false, time.Now())
			}
		}
	}
	c.mu.Lock()
	n := len(c.faults)
	c.mu.Unlock()
	if n > 0 {
		done = append([]string{fmt.Sprintf("%d fault(s) created by the drill removed or expired", n)}, done...)
	}
	return done
}

func outcome(what string, err error) string {
	if err != nil {
		return what + ": FAILED: " + err.Error()
	}
	return what
}

// clearedAt is when the drill stopped disturbing dep (the end of its last
// fault, forced breaker or failover), and whether it ever did.
func (c *controls) clearedAt(dep string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time
	found := false
	for _, iv := range c.intervals {
		if iv.dep != dep {
			continue
		}
		found = true
		end := iv.to
		if end.IsZero() {
			end = time.Now()
		}
		if end.After(t) {
			t = end
		}
	}
	return t, found
}

// firstFault is when the drill's first fault on dep was applied.
func (c *controls) firstFault(dep string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.faults {
		if f.dep == dep {
			return f.created, true
		}
	}
	return time.Time{}, false
}

// window is the first and last moment the drill disturbed anything.
func (c *controls) window() (from, to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, iv := range c.intervals {
		if from.IsZero() || iv.from.Before(from) {
			from = iv.from
		}
		end := iv.to
		if end.IsZero() {
			end = time.Now()
		}
		if end.After(to) {
			to = end
		}
	}
	return from, to
}
