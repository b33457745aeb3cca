package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// devSims are the simulators a dev sidecar talks to: in-process ones on
// loopback listeners, or a holdline-sim running elsewhere (--sim URL)
// for the CRM.
type devSims struct {
	addrs     simAddrs
	crm       *sim.CRM // nil with --sim or a configured CRM
	secondary *sim.CRM
	df        *sim.Dialogflow // nil with configured agents
	routes    map[string]http.Handler
	servers   []*http.Server
	closers   []func() error
	wg        sync.WaitGroup
}

// startSims starts a simulator for every upstream cfg leaves empty: the
// CRM (or, with simURL, the holdline-sim there, whose /dev/ inspection
// routes it proxies), the OIDC provider and Dialogflow. Recordings need
// no simulator: DevConfig stores them in a directory (the GCS emulator is
// kept out of the binary; see package gcsemu). It reads cfg and changes
// nothing; devTransform points the config at the simulators. On error it
// stops what it started.
func startSims(cfg *config.Config, simURL string) (d *devSims, err error) {
	d = &devSims{routes: map[string]http.Handler{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.Close())
		}
	}()
	if cfg.Dependencies.CRM.Endpoints.Primary == "" {
		if err := d.startCRM(simURL); err != nil {
			return nil, err
		}
	}
	if cfg.Identity.Issuer == "" {
		if err := d.startIdP(); err != nil {
			return nil, err
		}
	}
	if len(cfg.Dialogflow.Agents) == 0 {
		df, err := sim.StartDialogflow("")
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, func() error { df.Stop(); return nil })
		d.df, d.addrs.Dialogflow = df, df.Addr()
	}
	return d, nil
}

// startCRM starts the primary and secondary CRM simulators, or, with
// simURL, proxies /dev/ to the holdline-sim there.
func (d *devSims) startCRM(simURL string) error {
	if simURL != "" {
		u, err := url.Parse(simURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sidecar: --sim %q is not an http(s) URL", simURL)
		}
		d.addrs.CRM = simURL
		d.routes["/dev"] = httputil.NewSingleHostReverseProxy(u)
		return nil
	}
	d.crm = sim.NewCRM(sim.CRMOptions{})
	d.secondary = sim.NewCRM(sim.CRMOptions{})
	primary, err := d.serve(d.crm.Handler())
	if err != nil {
		return err
	}
	secondary, err := d.serve(d.secondary.Handler())
	if err != nil {
		return err
	}
	d.addrs.CRM, d.addrs.CRMSecondary = primary, secondary
	d.routes["/dev/crm"] = d.crm.DevHandler()
	return nil
}

// startIdP starts the OIDC provider simulator; its issuer is its own URL.
func (d *devSims) startIdP() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("sidecar: identity simulator listen: %w", err)
	}
	idp := sim.NewIdP(sim.IdPOptions{Issuer: "http://" + ln.Addr().String(), Audience: devAudience})
	d.serveOn(ln, idp.Handler())
	d.addrs.Issuer, d.addrs.ClientID, d.addrs.ClientSecret = idp.Issuer(), idp.ClientID(), idp.ClientSecret()
	d.routes["/dev/idp"] = idp.DevHandler()
	return nil
}

// serve runs h on a fresh loopback listener and returns its base URL.
func (d *devSims) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sidecar: simulator listen: %w", err)
	}
	d.serveOn(ln, h)
	return "http://" + ln.Addr().String(), nil
}

// serveOn serves h on ln until Close.
func (d *devSims) serveOn(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	d.servers = append(d.servers, srv)
	d.wg.Go(func() { _ = srv.Serve(ln) }) // ends with Close below
}

// Close stops every simulator and waits for their servers to exit.
func (d *devSims) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	for _, s := range d.servers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, s.Close())
		}
		cancel()
	}
	d.servers = nil
	d.wg.Wait()
	return errors.Join(errs...)
}
