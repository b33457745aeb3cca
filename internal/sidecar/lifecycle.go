package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
)

// Start binds both listeners synchronously (so a taken port fails here),
// serves in the background and starts the background workers, which run
// until Stop.
func (s *Sidecar) Start(ctx context.Context) error {
	dataH, adminH, err := s.gw.Handlers()
	if err != nil {
		return err
	}
	dataH = s.tracing.Handler(dataH) // itself with tracing off
	if err := s.listen(adminH); err != nil {
		return err
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout.D(), IdleTimeout: s.cfg.HTTP.IdleTimeout.D(), MaxHeaderBytes: 64 << 10, ErrorLog: errLog}
	}
	s.data, s.admin = newServer(dataH), newServer(adminH)
	s.data.ConnState, s.admin.ConnState = s.dataCap.track, s.adminCap.track

	// Background work stops with Stop, not with the caller's ctx: the
	// caller's ctx ending is what triggers Stop, which drains requests
	// first and only then stops the workers those requests feed.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, run := range s.runners {
		s.wg.Go(func() {
			if err := run(bg); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("background worker stopped", "error", err)
			}
		})
	}
	s.serve(s.data, s.dataLn)
	s.serve(s.admin, s.adminLn)
	s.probes.serve(&s.wg, s.errs)
	s.gw.SetReady(true)
	s.log.Info("holdline started", "listen", s.Addr(), "admin_listen", s.AdminAddr(), "data_dir", s.cfg.DataDir, "dev", s.opts.Dev)
	return nil
}

// listen binds the data, admin and probe listeners, or none of them.
func (s *Sidecar) listen(adminH http.Handler) error {
	dataLn, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("sidecar: data plane listen %s: %w", s.cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", s.cfg.AdminListen)
	if err != nil {
		dataLn.Close()
		return fmt.Errorf("sidecar: admin listen %s: %w", s.cfg.AdminListen, err)
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	if err := s.probes.listen(s.cfg, adminH, errLog); err != nil {
		dataLn.Close()
		adminLn.Close()
		return err
	}
	s.dataCap = newConnCap(dataLn, s.cfg.HTTP.MaxConnections)
	s.adminCap = newConnCap(adminLn, s.cfg.HTTP.MaxConnections)
	s.dataLn, s.adminLn = s.dataCap, s.adminCap
	if t := s.cfg.Admin.TLS; t.Enabled() {
		certs, err := newCertReloader(t, s.log)
		if err != nil {
			s.dataLn.Close()
			s.adminLn.Close()
			if s.probes.ln != nil {
				s.probes.ln.Close()
			}
			return err
		}
		s.adminLn = tls.NewListener(s.adminLn, certs.tlsConfig())
		if err := s.reg.Register(certs.expiryGauge()); err != nil {
			s.log.Warn("admin TLS certificate expiry not exported", "error", err)
		}
	}
	return nil
}

// serve serves srv on ln until Stop; a failure goes to Err.
func (s *Sidecar) serve(srv *http.Server, ln net.Listener) {
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- err
		}
	})
}

// Stop drains: /readyz turns 503, listeners stop accepting, in-flight
// requests finish (bounded by http.shutdown_timeout), background workers
// stop, then stores close. It returns the first error.
func (s *Sidecar) Stop() error {
	if s.gw != nil {
		s.gw.SetStopping()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout.D())
	defer cancel()
	var errs []error
	for _, srv := range []*http.Server{s.data, s.admin, s.probes.srv} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sidecar: drain: %w", err))
			_ = srv.Close()
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	errs = append(errs, s.close())
	s.log.Info("holdline stopped")
	return errors.Join(errs...)
}

// close runs the closers in reverse order of opening.
func (s *Sidecar) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}
