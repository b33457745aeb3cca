package sidecar

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/netutil"

	"github.com/holdline/holdline/internal/config"
)

// probeServer is the optional listener for the kubelet's probes
// (probe_listen): /healthz and /readyz, answered by the admin plane's own
// handlers, and nothing else, so the admin plane can stay on loopback.
type probeServer struct {
	ln  net.Listener
	srv *http.Server
}

// listen binds probe_listen, when it is set.
func (p *probeServer) listen(cfg *config.Config, admin http.Handler, errLog *log.Logger) error {
	if cfg.ProbeListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.ProbeListen)
	if err != nil {
		return fmt.Errorf("sidecar: probe listen %s: %w", cfg.ProbeListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", admin)
	mux.Handle("GET /readyz", admin)
	p.ln = netutil.LimitListener(ln, 64)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.D(), IdleTimeout: cfg.HTTP.IdleTimeout.D(), MaxHeaderBytes: 8 << 10, ErrorLog: errLog}
	return nil
}

// serve serves the probes until the server is shut down.
func (p *probeServer) serve(wg *sync.WaitGroup, errs chan<- error) {
	if p.srv == nil {
		return
	}
	wg.Go(func() {
		if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	})
}

// Addr is the probe listener's address, "" without one.
func (p *probeServer) Addr() string {
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}
