package sidecar

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/config"
)

// certReloader serves the admin plane's certificate, re-reading the
// certificate and key files when either changes on disk (a renewed
// certificate, as cert-manager writes it, needs no restart). A pair that
// fails to load keeps the last good one in service and is logged once per
// change.
type certReloader struct {
	files config.AdminTLS
	log   *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate
	stamp  [2]fileStamp // of the pair cert was loaded from
	failed [2]fileStamp // of the last pair that failed to load
}

// fileStamp is what tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

// newCertReloader loads the pair once; a pair that cannot be loaded at
// start is an error (the admin plane would refuse every handshake).
func newCertReloader(files config.AdminTLS, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{files: files, log: log}
	st, err := r.stamps()
	if err != nil {
		return nil, fmt.Errorf("sidecar: admin.tls: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("sidecar: admin.tls: %w", err)
	}
	r.cert, r.stamp = &cert, st
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, p := range []string{r.files.CertFile, r.files.KeyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// getCertificate is tls.Config.GetCertificate: the current pair, reloaded
// first when the files changed since it was loaded.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// current returns the pair in service, reloaded first when the files
// changed since it was loaded.
func (r *certReloader) current() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stamps()
	if err != nil || st == r.stamp || st == r.failed {
		return r.cert
	}
	cert, err := tls.LoadX509KeyPair(r.files.CertFile, r.files.KeyFile)
	if err != nil {
		// Mid-renewal the two files may briefly not match: keep serving
		// the old pair and try again when the files change again.
		r.failed = st
		r.log.Warn("admin TLS certificate not reloaded; keeping the previous one", "cert_file", r.files.CertFile, "error", err)
		return r.cert
	}
	r.cert, r.stamp, r.failed = &cert, st, [2]fileStamp{}
	r.log.Info("admin TLS certificate reloaded", "cert_file", r.files.CertFile)
	return r.cert
}

// expiry is when the certificate in service expires (its NotAfter), after
// picking up a renewal on disk as a handshake would: a scrape sees a
// renewed certificate even when no client has connected since.
func (r *certReloader) expiry() time.Time {
	c := r.current()
	if c == nil || len(c.Certificate) == 0 {
		return time.Time{}
	}
	if c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
		return leaf.NotAfter
	}
	return time.Time{}
}

// expiryGauge is holdline_admin_tls_cert_expiry_timestamp_seconds, for the
// alert that fires when renewal (cert-manager, say) has stopped working.
func (r *certReloader) expiryGauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "holdline_admin_tls_cert_expiry_timestamp_seconds",
		Help: "When the admin plane's TLS certificate in service expires (its NotAfter, Unix seconds); exported with admin.tls only. A renewed pair on disk is picked up at scrape.",
	}, func() float64 { return float64(r.expiry().Unix()) })
}

// tlsConfig is the admin plane's server TLS configuration: TLS 1.2 or
// later, the certificate from r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate, NextProtos: []string{"http/1.1"}}
}
