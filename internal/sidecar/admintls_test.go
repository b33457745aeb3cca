package sidecar

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial to cert and key, stamped with mod as its modification time.
func writeCert(t *testing.T, certPath, keyPath string, serial int64, mod time.Time) {
	t.Helper()
	writeCertUntil(t, certPath, keyPath, serial, mod, time.Now().Add(time.Hour))
}

// writeCertUntil is writeCert for a certificate that expires at notAfter.
func writeCertUntil(t *testing.T, certPath, keyPath string, serial int64, mod, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "holdline admin test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{certPath, keyPath} {
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial handshakes with addr and returns the certificate's serial.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestAdminTLSReloadsRenewedCertificate: with admin.tls the admin plane
// speaks only TLS (1.2+), and a certificate renewed on disk is served on
// the next handshake without a restart; a half-written pair (key and
// certificate that do not match) keeps the previous one in service.
func TestAdminTLSReloadsRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	files := config.AdminTLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	t0 := time.Now().Add(-time.Hour)
	writeCert(t, files.CertFile, files.KeyFile, 1, t0)
	ts := startDev(t, func(c *config.Config) { c.Admin.TLS = files })

	if got := servedSerial(t, ts.AdminAddr()); got != 1 {
		t.Fatalf("serial = %d, want 1", got)
	}
	// Plain HTTP is refused.
	if resp, err := http.Get("http://" + ts.AdminAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP /healthz answered 200 on a TLS admin plane")
		}
	}
	// TLS 1.1 is refused.
	if c, err := tls.Dial("tcp", ts.AdminAddr(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	// HTTPS works.
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get("https://" + ts.AdminAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("https /healthz = %d", resp.StatusCode)
	}

	// Renewal: a new pair on disk is served next.
	writeCert(t, files.CertFile, files.KeyFile, 2, t0.Add(time.Minute))
	if got := servedSerial(t, ts.AdminAddr()); got != 2 {
		t.Fatalf("after renewal serial = %d, want 2", got)
	}

	// A torn renewal: the certificate changes but the key is another
	// pair's. The last good pair stays in service.
	other := t.TempDir()
	writeCert(t, filepath.Join(other, "c"), filepath.Join(other, "k"), 3, t0)
	b, err := os.ReadFile(filepath.Join(other, "c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.CertFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(files.CertFile, t0.Add(2*time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, ts.AdminAddr()); got != 2 {
		t.Fatalf("after a mismatched pair serial = %d, want the last good 2", got)
	}
}

// TestAdminTLSUnloadableFailsStart: a certificate that cannot be read is
// an error at start, not a plane that refuses every handshake.
func TestAdminTLSUnloadableFailsStart(t *testing.T) {
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Admin.TLS = config.AdminTLS{CertFile: filepath.Join(t.TempDir(), "missing.crt"), KeyFile: filepath.Join(t.TempDir(), "missing.key")}
	sc, err := New(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler), Dev: true, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Stop() })
	if err := sc.Start(t.Context()); err == nil {
		t.Fatal("Start succeeded with an unreadable admin certificate")
	}
}

// TestAdminTLSExpiryMetric: holdline_admin_tls_cert_expiry_timestamp_seconds
// is the NotAfter of the certificate in service, and follows a renewal on
// disk.
func TestAdminTLSExpiryMetric(t *testing.T) {
	dir := t.TempDir()
	files := config.AdminTLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	t0 := time.Now().Add(-time.Hour)
	first := time.Now().Add(36 * time.Hour).Truncate(time.Second)
	writeCertUntil(t, files.CertFile, files.KeyFile, 1, t0, first)
	ts := startDev(t, func(c *config.Config) { c.Admin.TLS = files })
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	expiry := func() float64 {
		t.Helper()
		fams := scrapeWith(t, cl, "https://"+ts.AdminAddr()+"/metrics")
		f, ok := fams["holdline_admin_tls_cert_expiry_timestamp_seconds"]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("holdline_admin_tls_cert_expiry_timestamp_seconds not exported once: %v", f)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if got, want := expiry(), float64(first.Unix()); got != want {
		t.Errorf("expiry = %v, want %v (the certificate's NotAfter)", got, want)
	}
	renewed := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	writeCertUntil(t, files.CertFile, files.KeyFile, 2, t0.Add(time.Minute), renewed)
	if got, want := expiry(), float64(renewed.Unix()); got != want {
		t.Errorf("expiry after renewal = %v, want %v", got, want)
	}
}

// TestAdminTLSExpiryOnlyWithTLS: without admin.tls there is no certificate
// and no expiry series (an alert on it would read a made-up date).
func TestAdminTLSExpiryOnlyWithTLS(t *testing.T) {
	ts := startDev(t, nil)
	if names := scrapeNames(t, ts.admin+"/metrics"); names["holdline_admin_tls_cert_expiry_timestamp_seconds"] {
		t.Error("holdline_admin_tls_cert_expiry_timestamp_seconds exported without admin.tls")
	}
}
