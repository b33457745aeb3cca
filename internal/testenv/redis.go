// Package testenv starts real servers for tests: a private redis-server on
// a random loopback port. It is imported only by _test.go files; a test in
// cmd/holdline fails if the binary ever imports it.
package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Redis is a private redis-server started for one test or package.
type Redis struct {
	// Addr is the loopback host:port it listens on.
	Addr string
	// Dir is its working directory (AOF files live here).
	Dir string
	cmd *exec.Cmd
}

// RedisOptions tune StartRedis.
type RedisOptions struct {
	// Persist turns on appendonly with appendfsync always.
	Persist bool
	// Args are extra redis-server arguments.
	Args []string
}

// StartRedis starts redis-server on 127.0.0.1 and a free port in a temp
// dir, waits until it answers PING, and stops it with t.Cleanup. When the
// binary is missing the test is skipped, except with CI=true, where it
// fails: CI must never silently skip the Redis tests.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found in PATH and CI=true: install it (make test does, via apt-get)")
		}
		t.Skip("redis-server not installed; run `make test`, which installs it")
	}
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		r, err := startRedis(bin, dir, port, opts)
		if err == nil {
			t.Cleanup(r.Stop)
			return r
		}
		if attempt == 4 {
			t.Fatalf("start redis-server: %v", err)
		}
	}
}

func startRedis(bin, dir string, port int, opts RedisOptions) (*Redis, error) {
	args := []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
		"--logfile", filepath.Join(dir, "redis.log")}
	if opts.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, opts.Args...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(r.Addr) == nil {
			return r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Stop()
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	return nil, fmt.Errorf("redis-server on %s did not answer PING: %s", r.Addr, log)
}

// Stop kills the server (SIGKILL: tests that need a clean shutdown send
// SHUTDOWN themselves) and waits for it to exit. It is idempotent.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
