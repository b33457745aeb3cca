// Package gcsemu runs a Cloud Storage emulator (fake-gcs-server) on a
// loopback listener, for tests, the bench harness and the holdline-sim
// binary. It is never linked into the holdline binary: fake-gcs-server
// brings gorilla/mux, Pub/Sub and OpenTelemetry with it, and dev mode
// stores recordings in a local directory instead (cmd/holdline's
// TestBinaryDependencies and internal/layers keep it out).
package gcsemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Options configure Start.
type Options struct {
	// Addr is the listen address. Default 127.0.0.1:0.
	Addr string
	// Buckets are created empty at start.
	Buckets []string
}

// Server is an in-process Cloud Storage emulator (fake-gcs-server) on a
// loopback HTTP listener, so the real storage client path runs against it
// through holdline's own transport (egress allowlist, drill faults). Its
// public host is the listener address, so downloads (the XML path) work
// as well as uploads. Objects live in memory. It is safe for concurrent use.
type Server struct {
	fake *fakestorage.Server
	srv  *http.Server
	ln   net.Listener
	url  string
	down atomic.Bool
	wg   sync.WaitGroup
}

// Start starts the emulator and creates opts.Buckets.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("gcsemu: listen: %w", err)
	}
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		Scheme:     "http",
		PublicHost: ln.Addr().String(),
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("gcsemu:: %w", err)
	}
	for _, b := range opts.Buckets {
		fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	g := &Server{fake: fake, ln: ln, url: "http://" + ln.Addr().String()}
	g.srv = &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 5 * time.Second}
	g.wg.Go(func() { _ = g.srv.Serve(ln) }) // ends with Close
	return g, nil
}

// URL is the emulator's base URL, the blob dependency's endpoint.
func (g *Server) URL() string { return g.url }

// ClientOptions are what cloud.google.com/go/storage.NewClient needs to
// talk to the emulator (add option.WithHTTPClient to choose a transport).
func (g *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(g.url + "/storage/v1/"), option.WithoutAuthentication()}
}

// Fake is the underlying fake-gcs-server, for inspection (GetObject,
// ListObjects) and seeding.
func (g *Server) Fake() *fakestorage.Server { return g.fake }

// SetDown makes every request fail with 503 (true) until SetDown(false):
// an outage that holdline's breaker and spool must ride out.
func (g *Server) SetDown(down bool) { g.down.Store(down) }

// Handler serves the emulator, honouring SetDown.
func (g *Server) Handler() http.Handler {
	h := g.fake.HTTPHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":503,"message":"simulated outage"}}`))
			return
		}
		// The fake matches its XML routes on the public host, port included.
		if strings.HasPrefix(r.Host, "localhost:") {
			r.Host = g.ln.Addr().String()
		}
		h.ServeHTTP(w, r)
	})
}

// Close stops the listener and the fake.
func (g *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := g.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, g.srv.Close())
	}
	g.wg.Wait()
	g.fake.Stop()
	return err
}
