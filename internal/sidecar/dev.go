package sidecar

import (
	"github.com/holdline/holdline/internal/config"
)

// DevConfig is the configuration of `holdline serve --dev`: defaults, with
// fault injection on. The in-process simulators fill in the upstream
// endpoints when the sidecar starts.
func DevConfig() *config.Config {
	cfg := config.Default()
	cfg.Drills.Enabled = true
	cfg.Log.Level = "info"
	return cfg
}
