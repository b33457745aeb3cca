package config

import "time"

// Default returns a Config with every default filled in.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func setDur(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

func setInt[T int | int64](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// applyDefaults fills every zero value that has a documented default. It
// is idempotent.
func (c *Config) applyDefaults() {
	setStr(&c.Listen, "127.0.0.1:8080")
	setStr(&c.AdminListen, "127.0.0.1:9901")
	setStr(&c.DataDir, "/var/lib/holdline")
	setStr(&c.Log.Level, "info")
	setInt(&c.HTTP.MaxBodyBytes, 1<<20)
	setDur(&c.HTTP.ShutdownTimeout, 15*time.Second)
	setDur(&c.HTTP.ReadHeaderTimeout, 5*time.Second)
	setDur(&c.HTTP.BodyTimeout, 10*time.Second)
	setDur(&c.HTTP.BodyIdleTimeout, 30*time.Second)
	setDur(&c.HTTP.IdleTimeout, 120*time.Second)
	if c.HTTP.MaxConnections == 0 {
		c.HTTP.MaxConnections = 4096
	}

	setDur(&c.ScreenPop.Budget, 300*time.Millisecond)
	setStr(&c.ScreenPop.DefaultRegion, "US")

	setInt(&c.Cache.MaxEntries, 100_000)
	setDur(&c.Cache.FreshTTL, 5*time.Minute)
	setDur(&c.Cache.StaleTTL, 24*time.Hour)
	if c.Cache.RefreshAhead == 0 {
		c.Cache.RefreshAhead = 0.8
	}

	setStr(&c.Outbox.Backend, "bolt")
	setDur(&c.Outbox.ClaimIdle, 30*time.Second)
	setInt(&c.Outbox.Workers, 8)
	setDur(&c.Outbox.WriteBudget, time.Second)
	setDur(&c.Outbox.Backoff.Initial, time.Second)
	setDur(&c.Outbox.Backoff.Max, 5*time.Minute)
	setDur(&c.Outbox.Backoff.MaxElapsed, 24*time.Hour)
	setDur(&c.Outbox.Retention, 7*24*time.Hour)

	setStr(&c.Recordings.Store, "gcs")
	setStr(&c.Recordings.Prefix, "recordings/")
	setInt(&c.Recordings.MaxBytes, 2<<30)
	setInt(&c.Recordings.AttachPartBytes, 50_000_000)
	setInt(&c.Recordings.SpoolMaxBytes, 10<<30)
	setInt(&c.Recordings.SpoolReserveBytes, 256<<20)

	for _, p := range c.Dependencies.all() {
		p.applyDefaults()
	}
	// Google APIs are dialled by name; without an allowlist the egress
	// check would refuse them.
	for _, p := range []*Policy{&c.Dependencies.Dialogflow, &c.Dependencies.Blob} {
		if len(p.Allow) == 0 && p.Endpoints.Primary == "" {
			p.Allow = []string{"*.googleapis.com"}
		}
	}
	setStr(&c.Dependencies.CRM.Kind, "generic")
	setStr(&c.Dependencies.CRM.Auth.Type, "none")
	setDur(&c.Dependencies.CRM.Auth.RenewBefore, time.Minute)
	setDur(&c.Dependencies.CRM.Auth.FilePoll, 10*time.Second)
	g := &c.Dependencies.CRM.Generic
	setStr(&g.LookupURL, "/contacts?phone={phone}")
	setStr(&g.RecordsURL, "/contacts/{contact_id}/records?status=open")
	setStr(&g.CreateRecordURL, "/records")
	setStr(&g.CommentURL, "/records/{record_id}/comments")
	setStr(&g.AttachURL, "/records/{record_id}/attachments")

	setDur(&c.Dialogflow.SessionTTL, 30*time.Minute)
	setInt(&c.Dialogflow.MaxSessions, 100_000)
	for alias, a := range c.Dialogflow.Agents {
		setDur(&a.Budget, 2*time.Second)
		setStr(&a.Fallback.Message, "Let me connect you to an agent.")
		c.Dialogflow.Agents[alias] = a
	}

	c.Identity.applyDefaults()
	c.StatusPages.applyDefaults()
	c.Tracing.applyDefaults()
}

// all returns every dependency's policy with its name, in a stable order.
func (d *Dependencies) all() map[string]*Policy {
	return map[string]*Policy{
		"crm":        &d.CRM.Policy,
		"identity":   &d.Identity,
		"dialogflow": &d.Dialogflow,
		"blob":       &d.Blob,
		"redis":      &d.Redis,
	}
}

// Names lists the dependency names in display order.
var Names = []string{"crm", "identity", "dialogflow", "blob", "redis"}

// Policy returns the policy of the named dependency, or nil.
func (d *Dependencies) Policy(name string) *Policy { return d.all()[name] }

func (p *Policy) applyDefaults() {
	setDur(&p.Timeout, 800*time.Millisecond)
	setInt(&p.Retry.MaxAttempts, 2)
	setDur(&p.Retry.Backoff, 20*time.Millisecond)
	if p.Breaker.FailureRate == 0 {
		p.Breaker.FailureRate = 0.5
	}
	setInt(&p.Breaker.MinRequests, 20)
	setDur(&p.Breaker.Window, 30*time.Second)
	setDur(&p.Breaker.OpenFor, 15*time.Second)
	setInt(&p.Breaker.HalfOpenProbes, 3)
	setInt(&p.Bulkhead.MaxConcurrent, 64)
	p.Bulkhead.applyDefaults()
	p.HealthCheck.applyDefaults(p.Timeout)
}
