package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDependencies keeps test-only code out of the shipped binary.
func TestBinaryDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == "testing", strings.HasPrefix(pkg, "testing/"):
			t.Errorf("cmd/holdline imports %s", pkg)
		case strings.HasSuffix(pkg, "/internal/testenv"):
			t.Errorf("cmd/holdline imports %s", pkg)
		case strings.Contains(pkg, "/go-cmp/"):
			t.Errorf("cmd/holdline imports %s", pkg)
		}
	}
}
