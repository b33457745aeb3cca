package config

import (
	"log/slog"

	"gopkg.in/yaml.v3"
)

// Secret is a string that never prints itself: String, LogValue and JSON
// marshalling all give a fixed mask. Use Reveal where the real value is
// needed (an Authorization header, an AES key).
type Secret string

const masked = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s != "" }

// String returns a mask, never the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return masked
}

// LogValue implements slog.LogValuer with the mask.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler with the mask.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML writes the mask, so a dumped config never leaks.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads the value (after ${ENV} expansion).
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	var v string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*s = Secret(v)
	return nil
}
