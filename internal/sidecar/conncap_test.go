package sidecar

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// popOnNewConn sends one screen pop on a connection of its own and
// returns the status and body.
func popOnNewConn(t *testing.T, ctx context.Context, data string) (int, string) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequestWithContext(ctx, "POST", data+"/v1/screen-pop", strings.NewReader(`{"phone":"+14155550100"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("screen pop: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIdleFloodDoesNotStopScreenPops: many connections that never send a
// byte against http.max_connections. The cap holds (the process keeps at
// most max_connections of them), and screen pops on new connections keep
// being answered: a silent connection is closed to make room for one
// that speaks. The read-header timeout is set far beyond the test, so
// nothing but the cap frees a slot (a cap that queued new connections
// behind the silent ones would hang the pops until the hang guard).
//
// The figure is 10,000 connections; the test uses it when the
// file-descriptor limit allows (each connection costs the test process a
// descriptor on each end) and scales down otherwise, saying so.
func TestIdleFloodDoesNotStopScreenPops(t *testing.T) {
	const maxConns = 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	n := 10000
	if avail := int(lim.Cur) - maxConns - maxRejecting - 1000; avail < n {
		n = max(avail, 2*maxConns)
		t.Logf("RLIMIT_NOFILE %d: flooding with %d connections instead of 10,000", lim.Cur, n)
	}
	ts := startDev(t, func(c *config.Config) {
		c.HTTP.MaxConnections = maxConns
		c.HTTP.ReadHeaderTimeout = config.Duration(time.Hour)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // hang guard
	defer cancel()

	if code, body := popOnNewConn(t, ctx, ts.data); code != 200 {
		t.Fatalf("screen pop before the flood = %d %s", code, body)
	}
	var mu sync.Mutex
	var flood []net.Conn
	t.Cleanup(func() {
		for _, c := range flood {
			c.Close()
		}
	})
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 32 {
		wg.Go(func() {
			var d net.Dialer
			for range work {
				c, err := d.DialContext(ctx, "tcp", ts.Addr())
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				mu.Lock()
				flood = append(flood, c)
				mu.Unlock()
			}
		})
	}
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		return
	}

	for i := range 20 {
		code, body := popOnNewConn(t, ctx, ts.data)
		if code != 200 || !strings.Contains(body, `"source"`) {
			t.Fatalf("screen pop %d during a flood of %d silent connections = %d %s", i, n, code, body)
		}
	}
	if got := len(ts.dataCap.slots); got > maxConns {
		t.Errorf("open connections = %d, over the cap %d", got, maxConns)
	}
}

// TestConnectionCapAnswers503: when every connection under the cap has
// sent a request (busy or in keep-alive), a new one is answered 503 with
// Retry-After at once, not queued; a freed slot serves again.
func TestConnectionCapAnswers503(t *testing.T) {
	const maxConns = 3
	ts := startDev(t, func(c *config.Config) { c.HTTP.MaxConnections = maxConns })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // hang guard
	defer cancel()

	// Three keep-alive clients, each holding one connection that has
	// served a request.
	var held []*http.Transport
	for range maxConns {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		held = append(held, tr)
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.data+"/v1/interactions/none", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	code, body := popOnNewConn(t, ctx, ts.data)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "too many connections") {
		t.Fatalf("a connection past the cap = %d %s, want 503", code, body)
	}

	held[0].CloseIdleConnections()
	for {
		code, body = popOnNewConn(t, ctx, ts.data)
		if code == 200 {
			break
		}
		if code != http.StatusServiceUnavailable {
			t.Fatalf("after a slot was freed = %d %s", code, body)
		}
		select {
		case <-ctx.Done():
			t.Fatal("no slot freed after a keep-alive connection closed")
		case <-time.After(10 * time.Millisecond): // poll interval, not a synchronisation
		}
	}
	for _, tr := range held {
		tr.CloseIdleConnections()
	}
}
