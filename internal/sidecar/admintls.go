package sidecar

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

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
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stamps()
	if err != nil || st == r.stamp || st == r.failed {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.files.CertFile, r.files.KeyFile)
	if err != nil {
		// Mid-renewal the two files may briefly not match: keep serving
		// the old pair and try again when the files change again.
		r.failed = st
		r.log.Warn("admin TLS certificate not reloaded; keeping the previous one", "cert_file", r.files.CertFile, "error", err)
		return r.cert, nil
	}
	r.cert, r.stamp, r.failed = &cert, st, [2]fileStamp{}
	r.log.Info("admin TLS certificate reloaded", "cert_file", r.files.CertFile)
	return r.cert, nil
}

// tlsConfig is the admin plane's server TLS configuration: TLS 1.2 or
// later, the certificate from r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate, NextProtos: []string{"http/1.1"}}
}
