package config

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
)

// Validate checks the dependencies section at path: every dependency's
// policy, then the CRM's adapter settings.
func (d Dependencies) Validate(path string) []error {
	var errs []error
	for _, name := range Names {
		errs = append(errs, d.Policy(name).Validate(join(path, name))...)
	}
	errs = append(errs, d.CRM.validateAdapter(join(path, "crm"))...)
	errs = append(errs, d.validateHealthChecks(path)...)
	if d.Identity.Endpoints.Secondary != "" {
		// Identity calls go to the issuer's JWKS and introspection URLs,
		// not to these endpoints: a failover to a secondary would change
		// nothing while looking like it did.
		errs = append(errs, &Problem{Path: join(path, "identity.endpoints.secondary"),
			Msg: "identity has no failover: JWKS (discovered from identity.issuer) and introspection (identity.introspection_url) never use these endpoints; remove this key"})
	}
	return errs
}

// Validate checks one dependency's policy at path.
func (p *Policy) Validate(path string) []error {
	v := &validator{path: path}
	if p.Endpoints.Primary != "" {
		v.url("endpoints.primary", p.Endpoints.Primary)
	}
	if p.Endpoints.Secondary != "" {
		v.url("endpoints.secondary", p.Endpoints.Secondary)
		if p.Endpoints.Primary == "" {
			v.add("endpoints.primary", "must be set when a secondary is")
		}
	}
	for i, a := range p.Allow {
		if err := CheckAllow(a); err != nil {
			v.add(fmt.Sprintf("allow[%d]", i), err.Error())
		}
	}
	v.positive("timeout", int64(p.Timeout))
	if p.Retry.MaxAttempts < 1 {
		v.add("retry.max_attempts", "must be at least 1")
	}
	v.notNegative("retry.backoff", int64(p.Retry.Backoff))
	v.notNegative("hedge.delay", int64(p.Hedge.Delay))
	if p.Breaker.FailureRate <= 0 || p.Breaker.FailureRate > 1 {
		v.add("breaker.failure_rate", "must be in (0, 1]")
	}
	v.positive("breaker.min_requests", int64(p.Breaker.MinRequests))
	v.positive("breaker.window", int64(p.Breaker.Window))
	v.positive("breaker.open_for", int64(p.Breaker.OpenFor))
	v.positive("breaker.half_open_probes", int64(p.Breaker.HalfOpenProbes))
	v.positive("bulkhead.max_concurrent", int64(p.Bulkhead.MaxConcurrent))
	v.notNegative("rate_limit.per_second", int64(p.RateLimit.PerSecond))
	p.HealthCheck.validate(v)
	return v.errs
}

// validateAdapter checks the CRM's own keys at path (its policy is checked
// by Policy.Validate). The generic kind's URL templates and field mapping
// are checked by the CRM adapter, which owns their meaning (see
// sidecar.Check).
func (c CRM) validateAdapter(path string) []error {
	v := &validator{path: path}
	if c.Endpoints.Primary == "" {
		v.add("endpoints.primary", "must be set: holdline fronts a CRM")
	}
	v.oneOf("kind", c.Kind, "generic", "salesforce", "zendesk")
	v.oneOf("auth.type", c.Auth.Type, "none", "header", "basic", "bearer")
	switch c.Auth.Type {
	case "header":
		if c.Auth.Header == "" {
			v.add("auth.header", "must be set when auth.type is header")
		}
		fallthrough
	case "bearer":
		if !c.Auth.Secret.IsSet() {
			v.add("auth.secret", "must be set for auth.type "+c.Auth.Type)
		}
	case "basic":
		if c.Auth.Username == "" {
			v.add("auth.username", "must be set when auth.type is basic")
		}
	}
	return v.errs
}

// agentAlias is what a Dialogflow agent alias may be: it is the {agent}
// segment of the detect-intent path.
var agentAlias = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks the dialogflow section at path, agents in alias order.
func (d Dialogflow) Validate(path string) []error {
	v := &validator{path: path}
	for _, a := range slices.Sorted(maps.Keys(d.Agents)) {
		ag := d.Agents[a]
		p := "agents." + a
		if !agentAlias.MatchString(a) {
			v.add(p, "an alias is 1 to 64 letters, digits, '-' or '_' (it is a URL path segment)")
		}
		if err := CheckEnvironment(ag.Environment); err != nil {
			v.add(p+".environment", err.Error())
		}
		if ag.Secondary != "" {
			if err := CheckEnvironment(ag.Secondary); err != nil {
				v.add(p+".secondary", err.Error())
			} else if ag.Secondary == ag.Environment {
				v.add(p+".secondary", "must differ from environment")
			}
		}
		v.positive(p+".budget", int64(ag.Budget))
	}
	return v.errs
}

// DependencyPolicies returns the dependencies' policies with the defaults
// that come from other sections filled in: Redis has addresses, not
// endpoints, so its egress allowlist defaults to the hosts of the cache's
// and the outbox's Redis; the identity provider's endpoint defaults to
// identity.issuer (its egress allowlist then defaults to the issuer's
// host). The sidecar builds its dependencies from these.
func (c *Config) DependencyPolicies() Dependencies {
	deps := c.Dependencies
	if len(deps.Redis.Allow) == 0 {
		var allow []string
		for _, r := range []Redis{c.Cache.Redis, c.Outbox.Redis} {
			if host, _, err := net.SplitHostPort(r.Addr); err == nil && r.Addr != "" {
				allow = append(allow, host)
			}
		}
		deps.Redis.Allow = allow
	}
	if c.Identity.Issuer != "" && deps.Identity.Endpoints.Primary == "" {
		deps.Identity.Endpoints.Primary = c.Identity.Issuer
	}
	return deps
}
