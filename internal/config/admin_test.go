package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAdminTLSRequiredBeyondLoopback: an admin plane that listens beyond
// loopback must have a certificate, or say insecure_plaintext on purpose;
// config validate names admin.tls.
func TestAdminTLSRequiredBeyondLoopback(t *testing.T) {
	tests := []struct {
		name string
		yaml string // appended to minimal
		want []string
	}{
		{"loopback default", "", nil},
		{"localhost", "admin_listen: localhost:9901\n", nil},
		{"ipv6 loopback", "admin_listen: \"[::1]:9901\"\n", nil},
		{"all interfaces without tls", "admin_listen: 0.0.0.0:9901\n", []string{"admin.tls"}},
		{"empty host without tls", "admin_listen: \":9901\"\n", []string{"admin.tls"}},
		{"a host name without tls", "admin_listen: admin.internal:9901\n", []string{"admin.tls"}},
		{"beyond loopback, plaintext on purpose", "admin_listen: 0.0.0.0:9901\nadmin: {insecure_plaintext: true}\n", nil},
		{"beyond loopback with tls", "admin_listen: 0.0.0.0:9901\nadmin: {tls: {cert_file: /c.pem, key_file: /k.pem}}\n", nil},
		{"cert without key", "admin_listen: 0.0.0.0:9901\nadmin: {tls: {cert_file: /c.pem}}\n", []string{"admin.tls.key_file"}},
		{"key without cert on loopback", "admin: {tls: {key_file: /k.pem}}\n", []string{"admin.tls.cert_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problemPaths(t, minimal+tt.yaml)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
