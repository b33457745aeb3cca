package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCachePreviousKey: the rotation key is checked like the key itself
// and only makes sense next to a current key.
func TestCachePreviousKey(t *testing.T) {
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"rotation", "cache: {encryption_key: " + key + ", previous_encryption_key: " + key + "}\n", nil},
		{"short previous key", "cache: {encryption_key: " + key + ", previous_encryption_key: c2hvcnQ=}\n", []string{"cache.previous_encryption_key"}},
		{"previous without current", "cache: {previous_encryption_key: " + key + "}\n", []string{"cache.previous_encryption_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problemPaths(t, minimal+tt.yaml)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
