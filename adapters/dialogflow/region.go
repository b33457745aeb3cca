package dialogflow

import (
	"sync"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/conversation"
)

// AutoActor is the actor of an automatic regional failover in the audit
// log and in status (last_switch.by is "auto").
const AutoActor = "holdline (auto)"

// Switch is a change of the region an alias sends its new sessions to.
type Switch struct {
	Alias    string
	From, To string // "primary" or "secondary"
	At       time.Time
	// Actor is the operator, or AutoActor for an automatic switch.
	Actor  string
	Reason string
	Auto   bool
}

// region is which of an alias's environments new sessions go to, and the
// last decision that set it. Safe for concurrent use.
type region struct {
	mu        sync.Mutex
	secondary bool
	last      *Switch
}

func (r *region) active() (secondary bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.secondary
}

// set makes to the active region and records sw, unless from no longer
// holds (another turn switched first) when from is not "". It reports
// whether it changed anything.
func (r *region) set(from string, sw Switch) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from != "" && roleName(r.secondary) != from {
		return false
	}
	r.secondary = sw.To == "secondary"
	r.last = &sw
	return true
}

func (r *region) status() (active string, last *conversation.RegionSwitch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil {
		by := r.last.Actor
		if r.last.Auto {
			by = "auto"
		}
		last = &conversation.RegionSwitch{At: r.last.At, By: by, Reason: r.last.Reason, From: r.last.From, To: r.last.To}
	}
	return roleName(r.secondary), last
}

func roleName(secondary bool) string {
	if secondary {
		return "secondary"
	}
	return "primary"
}

// activeEnv is the environment new sessions of a go to.
func (a *agent) activeEnv() *environment {
	if a.secondary != nil && a.region.active() {
		return a.secondary
	}
	return a.primary
}

// other is a's environment that is not e, or nil without a secondary.
func (a *agent) other(e *environment) *environment {
	if e == a.primary {
		return a.secondary
	}
	return a.primary
}

// role names e's role in a: "primary" or "secondary".
func (a *agent) role(e *environment) string { return roleName(e == a.secondary && e != nil) }

// envNamed is a's environment called name, or nil.
func (a *agent) envNamed(name string) *environment {
	for _, e := range []*environment{a.primary, a.secondary} {
		if e != nil && e.name == name {
			return e
		}
	}
	return nil
}

// failover is the dialogflow dependency's FailoverFunc: an operator's
// `holdline failover dialogflow --to primary|secondary` sends the new
// sessions of every alias that has a secondary to that region. Aliases
// without one stay on their primary. Running sessions are not moved.
func (c *Client) failover(to, actor, reason string) error {
	if to != "primary" && to != "secondary" {
		return holdline.Errorf(holdline.EINVALID, "endpoint", "%q is not primary or secondary", to)
	}
	now := c.now()
	for _, alias := range c.aliases {
		a := c.agents[alias]
		if a.secondary == nil {
			continue
		}
		from, _ := a.region.status()
		a.region.set("", Switch{Alias: alias, From: from, To: to, At: now, Actor: actor, Reason: reason})
		c.log.Warn("dialogflow: new sessions go to the chosen region", "alias", alias, "from", from, "to", to,
			"actor", actor, "reason", reason)
	}
	return nil
}

// autoSwitch moves a's new sessions from the environment from (whose
// breaker is open) to the other, if a's auto_failover allows it and no
// other turn did it first; it logs and reports the decision.
func (c *Client) autoSwitch(a *agent, from, to *environment) {
	sw := Switch{Alias: a.alias, From: a.role(from), To: a.role(to), At: c.now(), Actor: AutoActor, Auto: true,
		Reason: "the " + a.role(from) + " environment's breaker is open (auto_failover)"}
	if !a.region.set(sw.From, sw) {
		return
	}
	c.log.Warn("dialogflow: automatic regional failover: new sessions go to the other region",
		"alias", a.alias, "from", sw.From, "to", sw.To, "reason", sw.Reason)
	if c.opts.OnAutoSwitch != nil {
		c.opts.OnAutoSwitch(sw)
	}
}
