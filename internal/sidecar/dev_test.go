package sidecar

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDevTransformBeforeCheck: the dev config is not a valid config by
// itself (no CRM); the dev transform, a pure function of the config and the
// simulators' addresses, makes it one, and leaves its input alone. Its
// recordings go to a directory, so it needs no bucket and no GCS emulator.
func TestDevTransformBeforeCheck(t *testing.T) {
	t.Parallel()
	cfg := DevConfig()
	err := Check(cfg)
	if key := "dependencies.crm.endpoints.primary:"; err == nil || !strings.Contains(err.Error(), key) {
		t.Errorf("Check(DevConfig()) = %v, want a problem at %s", err, key)
	}
	if cfg.Recordings.Store != "dir" || err != nil && strings.Contains(err.Error(), "recordings.") {
		t.Errorf("DevConfig() stores recordings in %q (Check: %v); want dir, with no recordings problem", cfg.Recordings.Store, err)
	}
	before := *DevConfig()
	addrs := simAddrs{
		CRM: "http://127.0.0.1:1001", CRMSecondary: "http://127.0.0.1:1002",
		Issuer: "http://127.0.0.1:1003", ClientID: "holdline", ClientSecret: "s3cret",
		Dialogflow: "127.0.0.1:1004",
	}
	got := devTransform(*cfg, addrs)
	if diff := cmp.Diff(before, *cfg); diff != "" {
		t.Errorf("devTransform changed its input (-before +after):\n%s", diff)
	}
	if err := Check(&got); err != nil {
		t.Errorf("Check(devTransform(DevConfig())) = %v, want nil", err)
	}
	if got.Dependencies.CRM.Endpoints.Primary != addrs.CRM || got.Identity.Issuer != addrs.Issuer || len(got.Dialogflow.Agents) != 1 {
		t.Errorf("devTransform = crm %q, issuer %q, %d agents; want the simulators'",
			got.Dependencies.CRM.Endpoints.Primary, got.Identity.Issuer, len(got.Dialogflow.Agents))
	}
	// A configured upstream keeps its endpoint: no simulator address for it.
	kept := devTransform(got, simAddrs{})
	if diff := cmp.Diff(got, kept); diff != "" {
		t.Errorf("devTransform with no simulators changed the config (-want +got):\n%s", diff)
	}
}
