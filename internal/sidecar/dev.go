package sidecar

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// DevConfig is the configuration of `holdline serve --dev`: defaults, with
// fault injection on and a breaker that reacts within a few seconds. The
// in-process simulators fill in the upstream endpoints when the sidecar is
// built.
func DevConfig() *config.Config {
	cfg := config.Default()
	cfg.Drills.Enabled = true
	crm := &cfg.Dependencies.CRM
	crm.Breaker.MinRequests = 10
	crm.Breaker.Window = config.Duration(10 * time.Second)
	crm.Breaker.OpenFor = config.Duration(5 * time.Second)
	crm.Breaker.HalfOpenProbes = 2
	return cfg
}

// SimInfo is what a `holdline sim` answers at GET /dev/sim: the base URLs
// of its simulators. GCS is empty when it runs no GCS emulator.
type SimInfo struct {
	// CRM is the CRM simulator (the URL given to --sim).
	CRM string `json:"crm"`
	// GCS is the GCS emulator, on a listener of its own: fake-gcs-server
	// routes by host, so it cannot share the CRM simulator's.
	GCS string `json:"gcs,omitempty"`
	// Bucket is the bucket the emulator holds recordings in.
	Bucket string `json:"bucket,omitempty"`
}

// UseSimStore asks the `holdline sim` at simURL where its GCS emulator is
// (GET simURL/dev/sim) and points cfg's recording store at it, so that
// stored recordings, like the CRM ledger, outlive the sidecar. A sim
// without an emulator leaves cfg alone (dev mode then starts one in
// process). It fails when the sim does not answer within ctx or 5s.
func UseSimStore(ctx context.Context, cfg *config.Config, simURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(simURL, "/")+"/dev/sim", nil)
	if err != nil {
		return fmt.Errorf("sidecar: --sim %q: %w", simURL, err)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("sidecar: ask the sim where its GCS emulator is: %w", err)
	}
	defer resp.Body.Close()
	var info SimInfo
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sidecar: GET %s/dev/sim = %d; is it a holdline sim?", simURL, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return fmt.Errorf("sidecar: GET %s/dev/sim: %w", simURL, err)
	}
	if info.GCS == "" {
		return nil
	}
	cfg.Recordings.Store = "gcs"
	cfg.Recordings.Bucket = cmp.Or(info.Bucket, DevBucket)
	cfg.Dependencies.Blob.Endpoints.Primary = info.GCS
	return nil
}

// devSims are the simulators a dev sidecar talks to: in-process ones on
// loopback listeners, or a `holdline sim` running elsewhere (--sim URL).
type devSims struct {
	crm       *sim.CRM // nil with --sim
	secondary *sim.CRM
	servers   []*http.Server
	wg        sync.WaitGroup
	routes    map[string]http.Handler
}

// startSims starts the simulators and points cfg's upstreams at them. With
// simURL set, it points them at that running simulator instead and proxies
// its /dev/ inspection routes.
func startSims(cfg *config.Config, simURL string) (*devSims, error) {
	d := &devSims{routes: map[string]http.Handler{}}
	crm := &cfg.Dependencies.CRM
	if simURL != "" {
		u, err := url.Parse(simURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sidecar: --sim %q is not an http(s) URL", simURL)
		}
		crm.Kind, crm.Endpoints.Primary = "generic", simURL
		d.routes["/dev"] = httputil.NewSingleHostReverseProxy(u)
		return d, nil
	}
	d.crm = sim.NewCRM(sim.CRMOptions{})
	d.secondary = sim.NewCRM(sim.CRMOptions{})
	primary, err := d.serve(d.crm.Handler())
	if err != nil {
		return nil, err
	}
	secondary, err := d.serve(d.secondary.Handler())
	if err != nil {
		d.Close()
		return nil, err
	}
	crm.Kind = "generic"
	crm.Endpoints.Primary, crm.Endpoints.Secondary = primary, secondary
	d.routes["/dev/crm"] = d.crm.DevHandler()
	return d, nil
}

// serve runs h on a fresh loopback listener and returns its base URL.
func (d *devSims) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sidecar: simulator listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	d.servers = append(d.servers, srv)
	d.wg.Go(func() { _ = srv.Serve(ln) }) // ends with Close below
	return "http://" + ln.Addr().String(), nil
}

// Close stops the in-process simulators.
func (d *devSims) Close() error {
	var errs []error
	for _, s := range d.servers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, s.Close())
		}
		cancel()
	}
	d.wg.Wait()
	return errors.Join(errs...)
}
