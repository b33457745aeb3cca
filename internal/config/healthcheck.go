package config

import (
	"strings"
	"time"
)

// HealthCheck probes a dependency's endpoints actively, so that a dead
// endpoint (a secondary nobody calls, a primary at night) is known before
// a caller or an operator's failover finds it. Each configured endpoint
// gets a GET of Path every Interval through the dependency's own client
// (its egress allowlist, drill faults included), outside the policy chain:
// probes never count towards the breaker, and their state never trips it
// or fails over. `holdline failover` refuses an unhealthy target without
// --force. Off unless Path is set; HTTP dependencies only (crm, identity,
// blob).
type HealthCheck struct {
	// Path is appended to each endpoint's base URL, e.g. /healthz. Empty
	// disables active checks (the default).
	Path string `yaml:"path"`
	// Interval between probes of one endpoint. Default 10s, at least 1s.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one probe. Default the dependency's timeout.
	Timeout Duration `yaml:"timeout"`
	// HealthyThreshold is how many probes in a row must answer 2xx or 3xx
	// for an endpoint to be healthy. Default 2.
	HealthyThreshold int `yaml:"healthy_threshold"`
	// UnhealthyThreshold is how many probes in a row must fail for an
	// endpoint to be unhealthy. Default 3.
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
}

// Enabled reports whether active checks are configured.
func (h HealthCheck) Enabled() bool { return h.Path != "" }

func (h *HealthCheck) applyDefaults(timeout Duration) {
	if !h.Enabled() {
		return
	}
	setDur(&h.Interval, 10*time.Second)
	setDur(&h.Timeout, timeout.D())
	setInt(&h.HealthyThreshold, 2)
	setInt(&h.UnhealthyThreshold, 3)
}

// validate adds the health_check problems of a policy to v.
func (h HealthCheck) validate(v *validator) {
	if !h.Enabled() {
		return
	}
	if !strings.HasPrefix(h.Path, "/") {
		v.add("health_check.path", "must start with /")
	}
	if h.Interval.D() < time.Second {
		v.add("health_check.interval", "must be at least 1s")
	}
	v.positive("health_check.timeout", int64(h.Timeout))
	v.positive("health_check.healthy_threshold", int64(h.HealthyThreshold))
	v.positive("health_check.unhealthy_threshold", int64(h.UnhealthyThreshold))
}

// validateHealthChecks refuses active checks where there is no HTTP
// endpoint to probe: Dialogflow (gRPC) and Redis.
func (d Dependencies) validateHealthChecks(path string) []error {
	var errs []error
	for _, name := range []string{"dialogflow", "redis"} {
		if d.Policy(name).HealthCheck.Enabled() {
			errs = append(errs, &Problem{Path: join(path, name+".health_check.path"), Msg: name + " has no HTTP endpoint to probe: active health checks are for crm, identity and blob"})
		}
	}
	return errs
}
