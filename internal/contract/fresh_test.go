package contract

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedClientsAreFresh regenerates both ogen clients into a temp
// dir and fails when the committed ones differ: run
// `go generate ./internal/contract/`.
func TestGeneratedClientsAreFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	for _, g := range []struct{ pkg, spec string }{
		{"dataclient", "../../openapi/holdline.yaml"},
		{"adminclient", "../../openapi/admin.yaml"},
	} {
		t.Run(g.pkg, func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.CommandContext(t.Context(), "go", "tool", "ogen", "-config", "ogen.yml", "-clean", "-package", g.pkg, "-target", tmp, g.spec)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ogen: %v\n%s", err, out)
			}
			want, err := filepath.Glob(filepath.Join(tmp, "*.go"))
			if err != nil || len(want) == 0 {
				t.Fatalf("ogen wrote no Go files (%v)", err)
			}
			got, _ := filepath.Glob(filepath.Join(g.pkg, "*.go"))
			if len(got) != len(want) {
				t.Errorf("%s has %d files, the generator writes %d: run go generate ./internal/contract/", g.pkg, len(got), len(want))
			}
			for _, w := range want {
				wb, _ := os.ReadFile(w)
				gb, err := os.ReadFile(filepath.Join(g.pkg, filepath.Base(w)))
				if err != nil || !bytes.Equal(wb, gb) {
					t.Errorf("%s/%s is stale: run go generate ./internal/contract/", g.pkg, filepath.Base(w))
				}
			}
		})
	}
}
