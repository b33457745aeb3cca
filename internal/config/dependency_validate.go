package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
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
	errs = append(errs, d.CRM.validateCleartext(join(path, "crm"))...)
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
	p.Bulkhead.validate(v)
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
	v.oneOf("auth.type", c.Auth.Type, "none", "header", "basic", "bearer", "client_credentials", "jwt_bearer")
	c.Auth.validate(v)
	return v.errs
}

// validate checks the auth block's keys for its type (v's path is the
// CRM's). Files are checked for presence here; crm.CheckAuth reads them.
func (a CRMAuth) validate(v *validator) {
	needSecret := func(key string, s Secret, file string) {
		switch {
		case s.IsSet() && file != "":
			v.add("auth."+key, "set "+key+" or "+key+"_file, not both")
		case !s.IsSet() && file == "":
			v.add("auth."+key, "must be set (or "+key+"_file) for auth.type "+a.Type)
		}
	}
	need := func(key, val string) {
		if val == "" {
			v.add("auth."+key, "must be set for auth.type "+a.Type)
		}
	}
	switch a.Type {
	case "header":
		need("header", a.Header)
		needSecret("secret", a.Secret, a.SecretFile)
	case "bearer":
		needSecret("secret", a.Secret, a.SecretFile)
	case "basic":
		need("username", a.Username)
		needSecret("secret", a.Secret, a.SecretFile)
	case "client_credentials":
		need("client_id", a.ClientID)
		needSecret("client_secret", a.ClientSecret, a.ClientSecretFile)
	case "jwt_bearer":
		need("client_id", a.ClientID)
		need("username", a.Username)
		need("private_key_file", a.PrivateKeyFile)
	}
	if a.OAuth() {
		if a.TokenURL == "" {
			v.add("auth.token_url", "must be set for auth.type "+a.Type)
		} else if !strings.HasPrefix(a.TokenURL, "/") {
			v.url("auth.token_url", a.TokenURL)
		}
		if a.Audience != "" {
			v.url("auth.audience", a.Audience)
		}
	}
	v.notNegative("auth.renew_before", int64(a.RenewBefore))
	v.positive("auth.file_poll", int64(a.FilePoll))
}

// agentAlias is what a Dialogflow agent alias may be: it is the {agent}
// segment of the detect-intent path.
var agentAlias = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`) })

// Validate checks the dialogflow section at path, agents in alias order.
func (d Dialogflow) Validate(path string) []error {
	v := &validator{path: path}
	for _, a := range slices.Sorted(maps.Keys(d.Agents)) {
		ag := d.Agents[a]
		p := "agents." + a
		if !agentAlias().MatchString(a) {
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
		if ag.AutoFailover && ag.Secondary == "" {
			v.add(p+".auto_failover", "needs a secondary environment to fail over to")
		}
		v.positive(p+".budget", int64(ag.Budget))
	}
	v.notNegative("session_ttl", int64(d.SessionTTL)) // 0: the default
	v.notNegative("max_sessions", int64(d.MaxSessions))
	return v.errs
}

// DependencyPolicies returns the dependencies' policies with the defaults
// that come from other sections filled in: Redis has addresses, not
// endpoints, so its egress allowlist defaults to the hosts of the cache's
// and the outbox's Redis; the identity provider's endpoint defaults to
// identity.issuer (its egress allowlist then defaults to the issuer's
// host); the CRM's, when it fetches OAuth tokens from an absolute
// token_url and lists no hosts, allows the token URL's host beside the
// endpoints'. The sidecar builds its dependencies from these.
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
	if len(deps.CRM.Allow) == 0 && deps.CRM.Auth.OAuth() {
		// An absolute token URL is dialled through the CRM's client
		// too: allow its host along with the endpoints' own.
		if u, err := url.Parse(deps.CRM.Auth.TokenURL); err == nil && u.Hostname() != "" {
			var allow []string
			for _, e := range []string{deps.CRM.Endpoints.Primary, deps.CRM.Endpoints.Secondary, deps.CRM.Auth.TokenURL} {
				if eu, err := url.Parse(e); err == nil && eu.Hostname() != "" {
					allow = append(allow, eu.Hostname())
				}
			}
			deps.CRM.Allow = allow
		}
	}
	if c.Identity.Issuer != "" && deps.Identity.Endpoints.Primary == "" {
		deps.Identity.Endpoints.Primary = c.Identity.Issuer
	}
	return deps
}

// validateCleartext refuses to send CRM credentials in clear: an http://
// endpoint is allowed only when holdline sends no credentials to it, or
// when it is on this machine (a local proxy or a simulator).
func (c CRM) validateCleartext(path string) []error {
	if c.Auth.Type == "" || c.Auth.Type == "none" {
		return nil
	}
	var errs []error
	for _, e := range []struct{ key, url string }{{"primary", c.Endpoints.Primary}, {"secondary", c.Endpoints.Secondary}} {
		u, err := url.Parse(e.url)
		if err != nil || u.Scheme != "http" || isLoopbackHost(u.Hostname()) {
			continue
		}
		errs = append(errs, &Problem{Path: join(path, "endpoints."+e.key),
			Msg: "is http:// to " + u.Hostname() + " while auth." + "type is " + c.Auth.Type + ": the credentials would cross the network in clear; use https://"})
	}
	return errs
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
