package config

import (
	"net"
	"net/netip"
	"strings"
)

// validateTLS checks admin.tls and admin.insecure_plaintext against the
// admin listen address: beyond loopback, the admin plane carries bearer
// tokens and audit data, so it must be TLS unless plaintext is chosen on
// purpose.
func (a Admin) validateTLS(path, listen string) []error {
	v := &validator{path: path}
	t := a.TLS
	if t.Enabled() {
		if t.CertFile == "" {
			v.add("tls.cert_file", "must be set with admin.tls.key_file")
		}
		if t.KeyFile == "" {
			v.add("tls.key_file", "must be set with admin.tls.cert_file")
		}
		return v.errs
	}
	if !a.InsecurePlaintext && !IsLoopback(listen) {
		v.add("tls", "admin_listen "+listen+" is beyond loopback: set admin.tls.cert_file and admin.tls.key_file, or admin.insecure_plaintext: true to serve admin tokens and audit data in clear on purpose")
	}
	return v.errs
}

// IsLoopback reports whether the host of the host:port addr can only be
// reached from this machine: "localhost" or a loopback IP. An empty host,
// 0.0.0.0, :: or any other name listens beyond loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
