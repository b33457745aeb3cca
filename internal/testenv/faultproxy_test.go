package testenv

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFaultProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	p := FaultProxy(t, srv.URL)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	get := func(timeout time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL(), nil)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return time.Since(start), err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) != "ok" {
			t.Errorf("body = %q, want ok", b)
		}
		return time.Since(start), err
	}

	if _, err := get(2 * time.Second); err != nil {
		t.Fatalf("clean proxy: %v", err)
	}

	p.Latency(200 * time.Millisecond)
	if el, err := get(2 * time.Second); err != nil || el < 200*time.Millisecond {
		t.Errorf("with 200ms latency: %v after %v, want success after at least 200ms", err, el)
	}

	p.Clear()
	p.Blackhole()
	if el, err := get(300 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || el < 300*time.Millisecond {
		t.Errorf("blackholed: %v after %v, want the client's 300ms deadline", err, el)
	}

	p.Clear()
	p.ResetPeer()
	if _, err := get(2 * time.Second); err == nil {
		t.Error("reset_peer: request succeeded, want a connection error")
	}

	p.Clear()
	addr := p.Addr()
	p.Disable()
	if _, err := get(2 * time.Second); err == nil {
		t.Error("disabled proxy answered")
	}
	p.Enable()
	if p.Addr() != addr {
		t.Errorf("Addr() = %s after Enable, want %s", p.Addr(), addr)
	}
	if _, err := get(2 * time.Second); err != nil {
		t.Errorf("re-enabled proxy: %v", err)
	}
}
