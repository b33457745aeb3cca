package sidecar

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDevTransformBeforeCheck: the dev config is not a valid config by
// itself (no CRM, no bucket); the dev transform, a pure function of the
// config and the simulators' addresses, makes it one, and leaves its input
// alone.
func TestDevTransformBeforeCheck(t *testing.T) {
	t.Parallel()
	cfg := DevConfig()
	err := Check(cfg)
	for _, key := range []string{"dependencies.crm.endpoints.primary:", "recordings.bucket:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Check(DevConfig()) = %v, want a problem at %s", err, key)
		}
	}
	before := *DevConfig()
	addrs := simAddrs{
		CRM: "http://127.0.0.1:1001", CRMSecondary: "http://127.0.0.1:1002",
		Issuer: "http://127.0.0.1:1003", ClientID: "holdline", ClientSecret: "s3cret",
		Dialogflow: "127.0.0.1:1004", GCS: "http://127.0.0.1:1005", Bucket: DevBucket,
	}
	got := devTransform(*cfg, addrs)
	if diff := cmp.Diff(before, *cfg); diff != "" {
		t.Errorf("devTransform changed its input (-before +after):\n%s", diff)
	}
	if err := Check(&got); err != nil {
		t.Errorf("Check(devTransform(DevConfig())) = %v, want nil", err)
	}
	if got.Dependencies.CRM.Endpoints.Primary != addrs.CRM || got.Identity.Issuer != addrs.Issuer ||
		got.Recordings.Bucket != DevBucket || got.Dependencies.Blob.Endpoints.Primary != addrs.GCS || len(got.Dialogflow.Agents) != 1 {
		t.Errorf("devTransform = crm %q, issuer %q, bucket %q, blob %q, %d agents; want the simulators'",
			got.Dependencies.CRM.Endpoints.Primary, got.Identity.Issuer, got.Recordings.Bucket, got.Dependencies.Blob.Endpoints.Primary, len(got.Dialogflow.Agents))
	}
	// A configured upstream keeps its endpoint: no simulator address for it.
	kept := devTransform(got, simAddrs{})
	if diff := cmp.Diff(got, kept); diff != "" {
		t.Errorf("devTransform with no simulators changed the config (-want +got):\n%s", diff)
	}
}
