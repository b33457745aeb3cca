package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"sync"
	"time"
)

// Validate checks the log section at path.
func (l Log) Validate(path string) []error {
	v := &validator{path: path}
	v.oneOf("level", l.Level, "debug", "info", "warn", "error")
	return v.errs
}

// Validate checks the http section at path.
func (h HTTP) Validate(path string) []error {
	v := &validator{path: path}
	v.positive("max_body_bytes", h.MaxBodyBytes)
	v.positive("max_connections", int64(h.MaxConnections))
	v.positive("body_timeout", int64(h.BodyTimeout))
	v.positive("body_idle_timeout", int64(h.BodyIdleTimeout))
	return v.errs
}

// Validate checks the admin section at path; listen is admin_listen,
// which decides whether TLS is required.
func (a Admin) Validate(path, listen string) []error {
	v := &validator{path: path}
	v.errs = append(v.errs, a.validateTLS(path, listen)...)
	seen := map[string]int{}
	for i, t := range a.Tokens {
		p := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" {
			v.add(p+".name", "must be set")
		} else if j, dup := seen[t.Name]; dup {
			// The name is the actor in the audit log: two tokens with one
			// name would make their actions indistinguishable.
			v.add(p+".name", fmt.Sprintf("%q is already the name of tokens[%d]; the name is the audit log's actor, so each token needs its own", t.Name, j))
		} else {
			seen[t.Name] = i
		}
		if len(t.Token.Reveal()) < 16 {
			v.add(p+".token", "must be at least 16 characters")
		}
	}
	return v.errs
}

var regionCode = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z]{2}$`) })

// Validate checks the screen_pop section at path.
func (s ScreenPop) Validate(path string) []error {
	v := &validator{path: path}
	if !regionCode().MatchString(s.DefaultRegion) {
		v.add("default_region", fmt.Sprintf("%q is not a two-letter region code such as US", s.DefaultRegion))
	}
	return v.errs
}

// Validate checks the cache section at path.
func (c Cache) Validate(path string) []error {
	v := &validator{path: path}
	v.positive("max_entries", int64(c.MaxEntries))
	v.positive("fresh_ttl", int64(c.FreshTTL))
	if c.Redis.Addr != "" {
		v.errs = append(v.errs, c.Redis.Validate(join(path, "redis"))...)
		if !c.EncryptionKey.IsSet() {
			// Entries hold contact data and are keyed by phone number: in
			// clear, Redis (and its backups) would hold personal data, and a
			// plain hash of a number is reversed by hashing every number.
			v.add("encryption_key", "is required when cache.redis.addr is set: it encrypts contact data in Redis and keys entries by HMAC, not a reversible hash of the number (generate one with: openssl rand -base64 32)")
		}
	}
	if c.EncryptionKey.IsSet() {
		if k, err := base64.StdEncoding.DecodeString(c.EncryptionKey.Reveal()); err != nil || len(k) != 32 {
			// Say nothing about the value: it is a secret.
			v.add("encryption_key", "must be 32 bytes, base64-encoded (openssl rand -base64 32)")
		}
	}
	if c.PreviousEncryptionKey.IsSet() {
		if k, err := base64.StdEncoding.DecodeString(c.PreviousEncryptionKey.Reveal()); err != nil || len(k) != 32 {
			v.add("previous_encryption_key", "must be 32 bytes, base64-encoded (the encryption_key being replaced)")
		}
		if !c.EncryptionKey.IsSet() {
			v.add("previous_encryption_key", "needs cache.encryption_key (the new key) during a rotation")
		}
	}
	if c.StaleTTL < c.FreshTTL {
		v.add("stale_ttl", "must be at least cache.fresh_ttl")
	}
	if c.RefreshAhead <= 0 || c.RefreshAhead > 1 {
		v.add("refresh_ahead", "must be in (0, 1]")
	}
	return v.errs
}

// Validate checks a Redis connection at path (one with an addr): the addr
// is host:port, and its host can be dialled through the egress allowlist,
// which defaults to it (see Config.DependencyPolicies).
func (r Redis) Validate(path string) []error {
	v := &validator{path: path}
	host, _, err := net.SplitHostPort(r.Addr)
	switch {
	case err != nil:
		v.add("addr", fmt.Sprintf("%q is not host:port", r.Addr))
	case CheckAllow(host) != nil:
		v.add("addr", fmt.Sprintf("%q: the host is not an IP address or a host name", r.Addr))
	}
	return v.errs
}

// Validate checks the outbox section at path.
func (o Outbox) Validate(path string) []error {
	v := &validator{path: path}
	v.oneOf("backend", o.Backend, "bolt", "redis")
	if o.Backend == "redis" {
		if o.Redis.Addr == "" {
			v.add("redis.addr", "must be set when outbox.backend is redis")
		} else {
			v.errs = append(v.errs, o.Redis.Validate(join(path, "redis"))...)
		}
	}
	if o.ClaimIdle.D() < time.Second {
		v.add("claim_idle", "must be at least 1s: live sidecars heartbeat every claim_idle/3")
	}
	v.positive("workers", int64(o.Workers))
	if o.Backoff.Max < o.Backoff.Initial {
		v.add("backoff.max", "must be at least outbox.backoff.initial")
	}
	return v.errs
}

// Validate checks the recordings section at path.
func (r Recordings) Validate(path string) []error {
	v := &validator{path: path}
	v.oneOf("store", r.Store, "gcs", "dir")
	if r.Store == "gcs" && r.Bucket == "" {
		v.add("bucket", "must be set when recordings.store is gcs")
	}
	v.positive("max_bytes", r.MaxBytes)
	v.positive("attach_part_bytes", r.AttachPartBytes)
	v.positive("spool_max_bytes", r.SpoolMaxBytes)
	v.notNegative("spool_reserve_bytes", r.SpoolReserveBytes)
	return v.errs
}
