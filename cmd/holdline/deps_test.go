package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestBinaryDependencies keeps test-only code and dev tools out of the
// shipped binary: no testing packages, and not the GCS emulator
// (fake-gcs-server with its gorilla/mux router, Pub/Sub notifications and
// OpenTelemetry), which tests, the bench harness and holdline-sim use.
// Dev mode stores recordings in a directory instead.
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

// TestProductionBuildTags: the Makefile's TAGS are what the Dockerfile
// builds with, and with them the binary links neither golang.org/x/net/trace
// (its /debug pages execute html/template, which turns off the linker's
// dead-method elimination) nor Cloud Storage's gRPC transport (xDS,
// DirectPath), which holdline does not use.
func TestProductionBuildTags(t *testing.T) {
	t.Parallel()
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TAGS\s*:=\s*(\S+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile sets no TAGS")
	}
	tags := string(m[1])
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "-tags "+tags+" ") {
		t.Errorf("the Dockerfile does not build with the Makefile's -tags %s", tags)
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-tags", tags, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps -tags %s: %v", tags, err)
	}
	pkgs := strings.Fields(string(out))
	if !slices.Contains(pkgs, "cloud.google.com/go/storage") {
		t.Fatalf("go list -deps -tags %s . lists no cloud.google.com/go/storage; is the test running in cmd/holdline?", tags)
	}
	for _, pkg := range pkgs {
		if pkg == "golang.org/x/net/trace" || strings.HasPrefix(pkg, "google.golang.org/grpc/xds") || strings.HasPrefix(pkg, "github.com/envoyproxy/") {
			t.Errorf("built with -tags %s, cmd/holdline still links %s", tags, pkg)
		}
	}
}
