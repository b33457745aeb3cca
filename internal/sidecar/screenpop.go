package sidecar

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/cache"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/screenpop"
)

// buildScreenPop builds the two-tier cache (with its Redis tier when
// cache.redis.addr is set) and the screen-pop flow over the active CRM
// endpoint's client, and registers their background workers.
func (s *Sidecar) buildScreenPop() error {
	var rdb *redis.Client
	if r := s.cfg.Cache.Redis; r.Addr != "" {
		rdb = s.redisClient(r, 100*time.Millisecond)
		s.closers = append(s.closers, rdb.Close)
	}
	c, err := cache.New(s.cfg.Cache, rdb, s.deps.Get("redis"), cache.Options{Logger: s.log, Registerer: s.reg})
	if err != nil {
		return err
	}
	s.screenPop = screenpop.New(c, s.crm, s.deps.Get("crm"), s.cfg.ScreenPop, s.cfg.Cache, screenpop.Options{Logger: s.log, Registerer: s.reg})
	s.runners = append(s.runners, c.Run, s.screenPop.Run)
	return nil
}

// redisClient dials r through the redis dependency (egress allowlist,
// drill faults) and leaves retries to its policy chain. minTimeout floors
// the socket timeouts: the cache wants the dependency's tight timeout, the
// outbox waits for Redis's fsync. ctx still governs every call.
func (s *Sidecar) redisClient(r config.Redis, minTimeout time.Duration) *redis.Client {
	dep := s.deps.Get("redis")
	timeout := max(s.cfg.Dependencies.Redis.Timeout.D(), minTimeout)
	o := &redis.Options{
		Addr: r.Addr, Username: r.Username, Password: r.Password.Reveal(), DB: r.DB,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dep.Dial(ctx, network, addr)
		},
		MaxRetries: -1,
		// failsafe timeouts cancel the ctx; go-redis only honours it with this.
		ContextTimeoutEnabled: true,
		DialTimeout:           max(timeout, 200*time.Millisecond),
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolSize:              s.cfg.Dependencies.Redis.Bulkhead.MaxConcurrent,
	}
	if r.TLS {
		host, _, _ := net.SplitHostPort(r.Addr)
		o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return redis.NewClient(o)
}
