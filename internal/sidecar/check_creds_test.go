package sidecar

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// TestCheckReadsCRMSecretFiles: Check (what `holdline config validate`
// runs) refuses a secret file serve could not read, naming its key.
func TestCheckReadsCRMSecretFiles(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Recordings.Bucket = "recordings"
	cfg.Dependencies.CRM.Endpoints.Primary = "https://crm.example.com"
	cfg.Dependencies.CRM.Auth = config.CRMAuth{Type: "jwt_bearer", TokenURL: "/services/oauth2/token", ClientID: "app",
		Username: "u@example.com", PrivateKeyFile: filepath.Join(t.TempDir(), "missing.pem"),
		RenewBefore: config.Duration(time.Minute), FilePoll: config.Duration(10 * time.Second)}
	err := Check(cfg)
	if err == nil || !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "dependencies.crm.auth.private_key_file") {
		t.Fatalf("Check with a missing private key file = %v, want an invalid config naming dependencies.crm.auth.private_key_file", err)
	}
}
