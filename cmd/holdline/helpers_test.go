package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer safe for the sidecar's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devSidecar runs `holdline serve --dev` in-process through run() on
// loopback ports and returns its data and admin URLs and token once
// /readyz answers 200.
type devSidecar struct {
	data, admin, token string
	stdout, stderr     *syncBuffer
	cancel             context.CancelFunc
	done               chan error
}

func startDev(t *testing.T, extraArgs ...string) *devSidecar {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	d := &devSidecar{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	args := append([]string{"holdline", "serve", "--dev", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, extraArgs...)
	getenv := func(string) string { return "" }
	go func() { d.done <- run(ctx, args, getenv, d.stdout, d.stderr) }()
	t.Cleanup(func() { d.stop(t) })
	re := regexp.MustCompile(`data plane\s+(http://\S+)[\s\S]*admin plane\s+(http://\S+)[\s\S]*admin token\s+(\S+)`)
	waitUntil(t, "the serve --dev banner", func() (bool, string) {
		select {
		case err := <-d.done:
			t.Fatalf("serve --dev exited early: %v\nstderr: %s", err, d.stderr.String())
		default:
		}
		if m := re.FindStringSubmatch(d.stdout.String()); m != nil {
			d.data, d.admin, d.token = m[1], m[2], m[3]
			return true, ""
		}
		return false, "stdout: " + d.stdout.String() + "\nstderr: " + d.stderr.String()
	})
	waitReady(t, d.admin)
	return d
}

// stop cancels the sidecar's context (as SIGTERM does) and waits for run.
func (d *devSidecar) stop(t *testing.T) error {
	t.Helper()
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		return err
	case <-time.After(hangGuard):
		t.Fatalf("serve did not stop within %v of its context ending (hang guard)", hangGuard)
		return nil
	}
}

// hangGuard bounds every wait for an event in this package's tests. It is
// not a latency budget (budgets are measured by the bench harness): it only
// turns a hang into a clear failure, and is generous so that a loaded
// machine never trips it.
const hangGuard = 2 * time.Minute

// pollEvery is how often waitUntil checks its condition.
const pollEvery = 10 * time.Millisecond

// waitUntil polls cond until it reports done, and fails the test once
// hangGuard has passed, naming what it waited for and cond's last
// description of what it saw instead. cond may call t.Fatal.
func waitUntil(t *testing.T, what string, cond func() (done bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		done, seen := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v (hang guard); last seen: %s", what, hangGuard, seen)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		}
	}
}

// waitGroup waits for wg, failing the test once hangGuard has passed.
func waitGroup(t *testing.T, what string, wg *sync.WaitGroup, seen func() string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	waitUntil(t, what, func() (bool, string) {
		select {
		case <-done:
			return true, ""
		default:
			return false, seen()
		}
	})
}

// pause waits d, or until the test ends, and reports whether d passed. It
// paces retries and decides when a kill lands; no test relies on it for
// correctness.
func pause(t *testing.T, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-t.Context().Done():
		return false
	}
}

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
