package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// env is what every scenario shares: the binaries, a temporary directory,
// and where progress goes.
type env struct {
	quick    bool
	self     string // this harness's executable (child modes)
	holdline string // the real holdline binary
	nginx    string // empty when nginx is not available
	tmp      string
	log      io.Writer
	seq      atomic.Int64
	notes    []string
	// soakDuration and soakRate shape the soak scenario.
	soakDuration time.Duration
	soakRate     int
	soakHeap     string // directory for heap profiles; in-process soak
	// testBins maps a package ("./outbox/") to its test binary, built
	// once by buildTests.
	testBins map[string]string
}

// logf prints progress to stderr.
func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// note records a caveat that goes into the report.
func (e *env) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.notes = append(e.notes, msg)
	e.logf("note: %s", msg)
}

// dir returns a fresh directory under the run's temporary directory.
func (e *env) dir(name string) string {
	d := filepath.Join(e.tmp, fmt.Sprintf("%s-%d", name, e.seq.Add(1)))
	_ = os.MkdirAll(d, 0o755)
	return d
}

// buildHoldline builds ./cmd/holdline into dir (bench/out), where go
// build finds it up to date on the next run and skips the link.
func (e *env) buildHoldline(ctx context.Context, dir string) error {
	out, err := filepath.Abs(filepath.Join(dir, "holdline"))
	if err != nil {
		return err
	}
	// Built as `make build` builds the production binary (its TAGS,
	// stripped, static), so the cold start and the size are those of the
	// binary that ships.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "grpcnotrace,disable_grpc_modules", "-ldflags", "-s -w", "-o", out, "./cmd/holdline")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = e.log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/holdline: %w", err)
	}
	e.holdline = out
	return nil
}

// child starts this harness in a child mode (see child.go).
func (e *env) child(name string, args ...string) (*proc, error) {
	return startProc(name, "", e.self, append([]string{childArg}, args...)...)
}

// benchCacheKey is cache.encryption_key for the bench's sidecars: 32
// bytes, base64.
const benchCacheKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// holdlineOpts are what a scenario changes in holdline's config.
type holdlineOpts struct {
	crmURL   string
	freshTTL string // cache.fresh_ttl, default 5m
	issuer   string // identity.issuer, empty for none
	redis    string // cache.redis.addr, empty for none
	gcsURL   string // recordings in GCS at this endpoint; a directory when empty
	// outboxRedis, when set, is the redis-server of a fleet outbox
	// (outbox.backend redis).
	outboxRedis string
	// crmDown keeps the CRM's breaker open for 10 minutes once it opens,
	// so that a down CRM stays skipped for the whole run.
	crmDown bool
}

// instance is a running holdline: the real binary, production mode, with
// a config file in its own directory.
type instance struct {
	*proc
	addr, admin, dir string
}

// startHoldline runs `holdline serve --config` and waits for /readyz.
func (e *env) startHoldline(ctx context.Context, name string, o holdlineOpts) (*instance, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir := e.dir(name)
	if err := os.WriteFile(filepath.Join(dir, "holdline.yaml"), []byte(holdlineConfig(addr, admin, dir, o)), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc(name, dir, e.holdline, "serve", "--config", filepath.Join(dir, "holdline.yaml"))
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+admin+"/readyz", 200, 15*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return &instance{proc: p, addr: addr, admin: admin, dir: dir}, nil
}

// holdlineConfig is a production config with loopback upstreams allowed
// explicitly (the egress allowlist accepts 127.0.0.1 when listed).
// Everything not set here keeps its documented default: screen-pop
// budget 300ms, CRM timeout 800ms, 2 read attempts, breaker at 50%
// failures over 20+ calls in 30s, open 15s, bulkhead 64.
func holdlineConfig(addr, admin, dir string, o holdlineOpts) string {
	if o.freshTTL == "" {
		o.freshTTL = "5m"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin_listen: %s\ndata_dir: %s\nlog: {level: warn}\n", addr, admin, filepath.Join(dir, "data"))
	if o.gcsURL != "" {
		fmt.Fprintf(&b, "recordings: {store: gcs, bucket: %s}\n", gcsBucket)
	} else {
		b.WriteString("recordings: {store: dir}\n")
	}
	if o.outboxRedis != "" {
		fmt.Fprintf(&b, "outbox:\n  backend: redis\n  redis: {addr: %q}\n", o.outboxRedis)
	}
	fmt.Fprintf(&b, "cache:\n  fresh_ttl: %s\n", o.freshTTL)
	if o.redis != "" {
		// The L2 cache needs a key to encrypt contact data in Redis (a
		// fixed one: the bench's Redis holds nothing worth protecting).
		fmt.Fprintf(&b, "  redis: {addr: %q}\n  encryption_key: %q\n", o.redis, benchCacheKey)
	}
	fmt.Fprintf(&b, "dependencies:\n  crm:\n    kind: generic\n    endpoints: {primary: %q}\n    allow: [\"127.0.0.1\"]\n", o.crmURL)
	if o.crmDown {
		b.WriteString("    breaker: {open_for: 10m}\n")
	}
	if o.issuer != "" {
		b.WriteString("  identity:\n    allow: [\"127.0.0.1\"]\n")
	}
	if o.redis != "" || o.outboxRedis != "" {
		b.WriteString("  redis:\n    allow: [\"127.0.0.1\"]\n")
	}
	if o.gcsURL != "" {
		fmt.Fprintf(&b, "  blob:\n    endpoints: {primary: %q}\n    allow: [\"127.0.0.1\"]\n    timeout: 60s\n", o.gcsURL)
	}
	if o.issuer != "" {
		fmt.Fprintf(&b, "identity:\n  issuer: %q\n  audience: holdline\n", o.issuer)
	}
	return b.String()
}

// findNginx returns nginx's path, installing nginx-light with apt-get
// when it is missing and the harness runs as root; "" with a reason
// otherwise.
func (e *env) findNginx(ctx context.Context) (string, string) {
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, ""
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, ""
	}
	if os.Geteuid() != 0 {
		return "", "nginx is not installed and the harness is not root: nginx rows skipped (apt-get install -y nginx-light)"
	}
	e.logf("installing nginx-light with apt-get")
	for _, args := range [][]string{{"update"}, {"install", "-y", "nginx-light"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Sprintf("apt-get %s failed (%v): nginx rows skipped\n%s", strings.Join(args, " "), err, tail(string(out), 500))
		}
	}
	return "/usr/sbin/nginx", ""
}

// nginxVersion returns `nginx -v`'s answer.
func nginxVersion(path string) string {
	out, _ := exec.Command(path, "-v").CombinedOutput()
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: "))
}

// nginxPlain is the team's reference nginx config for a plain
// keepalive reverse proxy, one worker.
const nginxPlain = `location / { proxy_pass http://crm; proxy_http_version 1.1; proxy_set_header Connection ""; }`

// nginxStale is the team's reference nginx config: how people do
// stale-if-error today, with the read timeout equal to holdline's
// screen-pop budget.
const nginxStale = `location / {
      proxy_pass http://crm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache pop;
      proxy_cache_valid 200 1s;
      proxy_cache_use_stale error timeout updating http_500 http_503;
      proxy_connect_timeout 300ms;
      proxy_read_timeout 300ms;
      proxy_send_timeout 300ms;
    }`

// nginxConf wraps a location block in the reference configs' frame, with
// every path inside the prefix directory.
func nginxConf(listen, upstream string, keepalive int, location string) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  proxy_cache_path cache keys_zone=pop:10m;
  upstream crm { server %s; keepalive %d; }
  server {
    listen %s;
    %s
  }
}
`, upstream, keepalive, listen, location)
}

// startNginx runs nginx -p DIR -c DIR/nginx.conf in a fresh directory.
func (e *env) startNginx(name, listen, conf string) (*proc, error) {
	dir := e.dir(name)
	for _, d := range []string{"cache", "tmp", "logs"} {
		// Started as root, nginx's worker runs as an unprivileged user
		// that must write the cache and temp files.
		_ = os.MkdirAll(filepath.Join(dir, d), 0o755)
		_ = os.Chmod(filepath.Join(dir, d), 0o777)
	}
	_ = os.Chmod(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc(name, dir, e.nginx, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"))
	if err != nil {
		return nil, err
	}
	if err := waitTCP(p, listen, 5*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}
