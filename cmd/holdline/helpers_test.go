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
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(d.stdout.String()); m != nil {
			d.data, d.admin, d.token = m[1], m[2], m[3]
			break
		}
		select {
		case err := <-d.done:
			t.Fatalf("serve --dev exited early: %v\nstderr: %s", err, d.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if d.admin == "" {
		t.Fatalf("no banner after 10s; stdout: %s\nstderr: %s", d.stdout.String(), d.stderr.String())
	}
	for time.Now().Before(deadline) {
		if resp, err := http.Get(d.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("/readyz never answered 200")
	return nil
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
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s")
		return nil
	}
}

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
