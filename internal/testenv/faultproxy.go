package testenv

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is a toxiproxy TCP proxy running in the test process in front of
// one upstream, for network faults that fault injection in
// internal/resilience cannot fake: slow bytes, a peer that never answers,
// TCP resets, a refused port. Toxics act on connections (links), and the
// ones already open keep what they had; use a client without keep-alive,
// or close idle connections, after changing toxics. Its methods are safe
// for concurrent use; each fails the test on error.
type Proxy struct {
	t  testing.TB
	mu sync.Mutex
	px *toxiproxy.Proxy
}

// FaultProxy starts a proxy on 127.0.0.1 and a free port that forwards to
// upstream, a host:port or a URL such as httptest.Server.URL, and stops it
// with t.Cleanup. No toxiproxy HTTP API is started.
func FaultProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	if strings.Contains(upstream, "://") {
		u, err := url.Parse(upstream)
		if err != nil {
			t.Fatalf("testenv: fault proxy upstream %q: %v", upstream, err)
		}
		upstream = u.Host
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	px := toxiproxy.NewProxy(srv, "upstream", "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		t.Fatalf("testenv: start fault proxy: %v", err)
	}
	p := &Proxy{t: t, px: px}
	t.Cleanup(func() {
		px.Toxics.ResetToxics(context.Background())
		px.Stop()
	})
	return p
}

// Addr is the proxy's host:port on 127.0.0.1. It stays the same across
// Disable and Enable.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.px.Lock()
	defer p.px.Unlock()
	return p.px.Listen
}

// URL is "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Latency delays every byte from the upstream by d (replacing any earlier
// latency).
func (p *Proxy) Latency(d time.Duration) {
	p.set("latency", "latency", "downstream", fmt.Sprintf(`{"latency":%d}`, d.Milliseconds()))
}

// Blackhole stops all data and never closes the connection: the client
// sees its own timeout, as with a hung upstream.
func (p *Proxy) Blackhole() {
	p.set("blackhole", "timeout", "upstream", `{"timeout":0}`)
}

// ResetPeer resets connections (TCP RST) as soon as data arrives.
func (p *Proxy) ResetPeer() {
	p.set("reset", "reset_peer", "upstream", `{"timeout":0}`)
}

// Disable closes the listener and every open connection: new connections
// are refused.
func (p *Proxy) Disable() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.px.Stop()
}

// Enable listens again on the same address.
func (p *Proxy) Enable() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.px.Start(); err != nil && err != toxiproxy.ErrProxyAlreadyStarted {
		p.t.Fatalf("testenv: enable fault proxy: %v", err)
	}
}

// Clear removes every toxic.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.px.Toxics.ResetToxics(context.Background())
}

func (p *Proxy) set(name, typ, stream, attrs string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx := context.Background()
	_ = p.px.Toxics.RemoveToxic(ctx, name) // ErrToxicNotFound when new
	body := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
	if _, err := p.px.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		p.t.Fatalf("testenv: add %s toxic: %v", typ, err)
	}
}
