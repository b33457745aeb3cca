package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryDependencies keeps test-only code and dev tools out of the
// shipped binary: no testing packages, and not the GCS emulator
// (fake-gcs-server with its gorilla/mux router, Pub/Sub notifications and
// OpenTelemetry), which tests, the bench harness and holdline-sim use and
// which once made up a third of the binary. Dev mode stores recordings in
// a directory instead.
func TestBinaryDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 100 || !slices.Contains(pkgs, "github.com/holdline/holdline/internal/sidecar") {
		t.Fatalf("go list -deps . listed %d packages without internal/sidecar; is the test running in cmd/holdline?", len(pkgs))
	}
	for _, pkg := range pkgs {
		switch {
		case pkg == "testing", strings.HasPrefix(pkg, "testing/"):
			t.Errorf("cmd/holdline imports %s", pkg)
		case strings.HasSuffix(pkg, "/internal/testenv"), strings.HasSuffix(pkg, "/internal/gcsemu"):
			t.Errorf("cmd/holdline imports %s", pkg)
		case strings.Contains(pkg, "/go-cmp/"),
			strings.HasPrefix(pkg, "github.com/fsouza/fake-gcs-server/"),
			strings.HasPrefix(pkg, "github.com/gorilla/"),
			strings.HasPrefix(pkg, "cloud.google.com/go/pubsub"):
			t.Errorf("cmd/holdline imports %s", pkg)
		}
	}
}
