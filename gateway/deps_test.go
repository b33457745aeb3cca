package gateway

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGatewayImportsNoAdapter enforces the layering: the gateway sees the
// flows in internal/ (their ports and types), never an adapter. Tests may
// still drive real adapters behind those ports.
func TestGatewayImportsNoAdapter(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "github.com/holdline/holdline/gateway") {
		t.Fatalf("go list printed %q, want the gateway packages", out)
	}
	for _, line := range lines {
		pkg, imports, _ := strings.Cut(line, " ")
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, "github.com/holdline/holdline/adapters/") {
				t.Errorf("%s imports %s; the gateway must reach adapters only through the ports of internal/", pkg, imp)
			}
		}
	}
}
