package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Validate checks a Config with defaults applied and returns every problem
// found, each a *Problem naming its key path. It returns nil for a good
// Config.
func (c *Config) Validate() []error {
	v := &validator{}
	v.hostPort("listen", c.Listen)
	v.hostPort("admin_listen", c.AdminListen)
	if c.ProbeListen != "" {
		v.hostPort("probe_listen", c.ProbeListen)
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.positive("http.max_body_bytes", c.HTTP.MaxBodyBytes)
	v.positive("http.max_connections", int64(c.HTTP.MaxConnections))
	v.positive("http.body_timeout", int64(c.HTTP.BodyTimeout))
	v.positive("http.body_idle_timeout", int64(c.HTTP.BodyIdleTimeout))
	for i, t := range c.Admin.Tokens {
		p := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" {
			v.add(p+".name", "must be set")
		}
		if len(t.Token.Reveal()) < 16 {
			v.add(p+".token", "must be at least 16 characters")
		}
	}
	if !regexp.MustCompile(`^[A-Z]{2}$`).MatchString(c.ScreenPop.DefaultRegion) {
		v.add("screen_pop.default_region", fmt.Sprintf("%q is not a two-letter region code such as US", c.ScreenPop.DefaultRegion))
	}
	v.positive("cache.max_entries", int64(c.Cache.MaxEntries))
	if c.Cache.Redis.Addr != "" && !c.Cache.EncryptionKey.IsSet() {
		// Entries hold contact data and are keyed by phone number: in
		// clear, Redis (and its backups) would hold personal data, and a
		// plain hash of a number is reversed by hashing every number.
		v.add("cache.encryption_key", "is required when cache.redis.addr is set: it encrypts contact data in Redis and keys entries by HMAC, not a reversible hash of the number (generate one with: openssl rand -base64 32)")
	}
	if c.Cache.StaleTTL < c.Cache.FreshTTL {
		v.add("cache.stale_ttl", "must be at least cache.fresh_ttl")
	}
	if c.Cache.RefreshAhead <= 0 || c.Cache.RefreshAhead > 1 {
		v.add("cache.refresh_ahead", "must be in (0, 1]")
	}
	v.oneOf("outbox.backend", c.Outbox.Backend, "bolt", "redis")
	if c.Outbox.Backend == "redis" && c.Outbox.Redis.Addr == "" {
		v.add("outbox.redis.addr", "must be set when outbox.backend is redis")
	}
	if c.Outbox.ClaimIdle.D() < time.Second {
		v.add("outbox.claim_idle", "must be at least 1s: live sidecars heartbeat every claim_idle/3")
	}
	v.positive("outbox.workers", int64(c.Outbox.Workers))
	v.oneOf("recordings.store", c.Recordings.Store, "gcs", "dir")
	v.positive("recordings.max_bytes", c.Recordings.MaxBytes)
	v.positive("recordings.attach_part_bytes", c.Recordings.AttachPartBytes)
	v.positive("recordings.spool_max_bytes", c.Recordings.SpoolMaxBytes)
	if c.Recordings.SpoolReserveBytes < 0 {
		v.add("recordings.spool_reserve_bytes", "must not be negative")
	}

	for _, name := range Names {
		c.Dependencies.Policy(name).validate(v, "dependencies."+name)
	}
	crm := c.Dependencies.CRM
	if crm.Endpoints.Primary == "" {
		v.add("dependencies.crm.endpoints.primary", "must be set: holdline fronts a CRM")
	}
	v.oneOf("dependencies.crm.kind", crm.Kind, "generic", "salesforce", "zendesk")
	v.oneOf("dependencies.crm.auth.type", crm.Auth.Type, "none", "header", "basic", "bearer")
	switch crm.Auth.Type {
	case "header":
		if crm.Auth.Header == "" {
			v.add("dependencies.crm.auth.header", "must be set when auth.type is header")
		}
		fallthrough
	case "bearer":
		if !crm.Auth.Secret.IsSet() {
			v.add("dependencies.crm.auth.secret", "must be set for auth.type "+crm.Auth.Type)
		}
	case "basic":
		if crm.Auth.Username == "" {
			v.add("dependencies.crm.auth.username", "must be set when auth.type is basic")
		}
	}

	aliases := make([]string, 0, len(c.Dialogflow.Agents))
	for a := range c.Dialogflow.Agents {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	for _, a := range aliases {
		ag := c.Dialogflow.Agents[a]
		p := "dialogflow.agents." + a
		if err := CheckEnvironment(ag.Environment); err != nil {
			v.add(p+".environment", err.Error())
		}
		if ag.Secondary != "" {
			if err := CheckEnvironment(ag.Secondary); err != nil {
				v.add(p+".secondary", err.Error())
			}
		}
	}

	v.errs = append(v.errs, c.Identity.Validate()...)
	if c.Dependencies.Identity.Endpoints.Secondary != "" {
		// Identity calls go to the issuer's JWKS and introspection URLs,
		// not to these endpoints: a failover to a secondary would change
		// nothing while looking like it did.
		v.add("dependencies.identity.endpoints.secondary", "identity has no failover: JWKS (discovered from identity.issuer) and introspection (identity.introspection_url) never use these endpoints; remove this key")
	}
	return v.errs
}

var envName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/agents/[^/]+/environments/([^/]+)$`)

// CheckEnvironment reports whether name is the full resource name of a
// published Dialogflow CX environment. Draft (an environment of "-", a
// missing environment, or any other shape) is refused.
func CheckEnvironment(name string) error {
	if name == "" {
		return fmt.Errorf("must name a published environment (projects/P/locations/L/agents/A/environments/E); Draft is refused")
	}
	m := envName.FindStringSubmatch(name)
	if m == nil {
		return fmt.Errorf("%q is not projects/P/locations/L/agents/A/environments/E; a session path without /environments/ runs on Draft, which is refused", name)
	}
	if m[1] == "-" || strings.EqualFold(m[1], "draft") {
		return fmt.Errorf("%q is the Draft environment; pin a published environment", name)
	}
	return nil
}

func (p *Policy) validate(v *validator, path string) {
	if p.Endpoints.Primary != "" {
		v.url(path+".endpoints.primary", p.Endpoints.Primary)
	}
	if p.Endpoints.Secondary != "" {
		v.url(path+".endpoints.secondary", p.Endpoints.Secondary)
		if p.Endpoints.Primary == "" {
			v.add(path+".endpoints.primary", "must be set when a secondary is")
		}
	}
	for i, a := range p.Allow {
		if err := CheckAllow(a); err != nil {
			v.add(fmt.Sprintf("%s.allow[%d]", path, i), err.Error())
		}
	}
	if p.Retry.MaxAttempts < 1 {
		v.add(path+".retry.max_attempts", "must be at least 1")
	}
	if p.Breaker.FailureRate <= 0 || p.Breaker.FailureRate > 1 {
		v.add(path+".breaker.failure_rate", "must be in (0, 1]")
	}
	v.positive(path+".breaker.min_requests", int64(p.Breaker.MinRequests))
	v.positive(path+".breaker.half_open_probes", int64(p.Breaker.HalfOpenProbes))
	v.positive(path+".bulkhead.max_concurrent", int64(p.Bulkhead.MaxConcurrent))
	if p.RateLimit.PerSecond < 0 {
		v.add(path+".rate_limit.per_second", "must not be negative")
	}
}

// CheckAllow reports whether s is a CIDR range, an IP address, a host name
// or a "*." domain pattern.
func CheckAllow(s string) error {
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not a CIDR range", s)
		}
		return nil
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	h := strings.TrimPrefix(s, "*.")
	if h == "" || strings.ContainsAny(h, "*:/ ") || !regexp.MustCompile(`^[A-Za-z0-9.-]+$`).MatchString(h) {
		return fmt.Errorf("%q is not a host, a *.domain pattern or a CIDR range", s)
	}
	return nil
}

type validator struct{ errs []error }

func (v *validator) add(path, msg string) {
	v.errs = append(v.errs, &Problem{Path: path, Msg: msg})
}

func (v *validator) oneOf(path, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.add(path, fmt.Sprintf("%q is not one of %s", val, strings.Join(allowed, ", ")))
	}
}

func (v *validator) positive(path string, n int64) {
	if n <= 0 {
		v.add(path, "must be positive")
	}
}

func (v *validator) hostPort(path, s string) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		v.add(path, fmt.Sprintf("%q is not host:port", s))
	}
}

func (v *validator) url(path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, fmt.Sprintf("%q is not an http(s) URL", s))
	}
}
