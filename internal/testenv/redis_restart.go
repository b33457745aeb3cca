package testenv

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
)

// Restart starts a stopped server again on the same address and working
// directory, so that with opts.Persist it comes back with its data (the
// AOF files in Dir), as a Redis outage that ends would. Give the options
// StartRedis was given. It fails the test if the server does not answer.
func (r *Redis) Restart(t testing.TB, opts RedisOptions) {
	t.Helper()
	r.Stop()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	_, p, err := net.SplitHostPort(r.Addr)
	if err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	n, err := startRedis(bin, r.Dir, port, opts)
	if err != nil {
		t.Fatalf("restart redis-server on %s: %v", r.Addr, err)
	}
	r.cmd = n.cmd
}
