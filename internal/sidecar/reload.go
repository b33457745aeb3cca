package sidecar

import (
	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
)

// ReloadReport is what Reload did, by config key (never a value).
type ReloadReport struct {
	// Reread are the secret files read again: the CRM's
	// dependencies.crm.auth.*_file keys that are set. A changed file
	// applies to the next CRM call (a new OAuth token is fetched with a
	// changed client secret or key).
	Reread []string
	// NotApplied are the keys whose value differs between the running
	// config and the one read again; they apply only after a restart.
	NotApplied []string
}

// Reload applies what can change while the sidecar runs (SIGHUP): it
// makes the CRM clients re-read their secret files at their next call.
// next is the config file read again, with serve's flags applied; Reload
// compares it with the config New was given and reports every key that
// differs as NotApplied (listeners, data_dir, stores, policies and
// inline secrets are built once, at New). next may be nil (dev mode, or
// a file that no longer parses): then only the secret files are re-read.
// Reload logs what it did and is safe to call concurrently with requests.
func (s *Sidecar) Reload(next *config.Config) ReloadReport {
	var r ReloadReport
	for _, c := range s.crmEndpoints {
		if sr, ok := c.(crm.SecretReloader); ok {
			sr.ReloadSecrets()
		}
	}
	a := s.cfg.Dependencies.CRM.Auth
	for key, file := range map[string]string{"secret_file": a.SecretFile, "client_secret_file": a.ClientSecretFile, "private_key_file": a.PrivateKeyFile} {
		if file != "" {
			r.Reread = append(r.Reread, "dependencies.crm.auth."+key)
		}
	}
	if next != nil {
		r.NotApplied = config.Diff(s.given, next)
	}
	switch {
	case len(r.NotApplied) > 0:
		s.log.Warn("config reload: secret files re-read; changed keys need a restart to apply",
			"reread", r.Reread, "not_applied", r.NotApplied)
	default:
		s.log.Info("config reload: secret files re-read", "reread", r.Reread, "config_read", next != nil)
	}
	return r
}
