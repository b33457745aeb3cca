package gateway

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/gateway/api"
)

// TestRoutesMatchSpec fails when a route is served that the spec lacks, or
// the spec has an operation that is not routed, on either plane.
func TestRoutesMatchSpec(t *testing.T) {
	p := newPlanes(t, func(o *Options) {
		o.DevRoutes = map[string]http.Handler{"/dev/crm": http.NotFoundHandler()}
	})
	d, a, err := p.srv.Handlers()
	if err != nil {
		t.Fatal(err)
	}
	dataSpec, _ := api.GetSwagger()
	adminSpec, _ := adminapi.GetSwagger()
	for _, tt := range []struct {
		name       string
		handler    http.Handler
		specRoutes []string
	}{
		{name: "data", handler: d, specRoutes: specRoutes(dataSpec.Paths.Map())},
		{name: "admin", handler: a, specRoutes: specRoutes(adminSpec.Paths.Map())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var served []string
			err := chi.Walk(tt.handler.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
				if strings.HasPrefix(route, "/dev/") || route == "/ui" || strings.HasPrefix(route, "/ui/") {
					return nil // dev-mode inspection routes and the status page are not API
				}
				served = append(served, method+" "+strings.TrimSuffix(route, "/"))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(served)
			served = slices.Compact(served)
			if diff := cmp.Diff(tt.specRoutes, served); diff != "" {
				t.Errorf("routes served vs spec (-spec +served):\n%s", diff)
			}
		})
	}
}

func specRoutes[T interface{ Operations() map[string]O }, O any](paths map[string]T) []string {
	var out []string
	for path, item := range paths {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// TestGeneratedCodeIsFresh regenerates both servers and the admin client
// from the specs and fails when the committed code differs: run
// `go generate ./gateway/...`.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	for _, g := range []struct{ dir, spec, cfg, out string }{
		{"api", "../../openapi/holdline.yaml", "cfg.yaml", "api.gen.go"},
		{"adminapi", "../../openapi/admin.yaml", "cfg.yaml", "adminapi.gen.go"},
		{"adminapi", "../../openapi/admin.yaml", "client.yaml", "client.gen.go"},
	} {
		t.Run(g.out, func(t *testing.T) {
			// The config names its output file; point a copy at a temp dir
			// so the check never touches the committed code.
			tmp := filepath.Join(t.TempDir(), g.out)
			cfg, err := os.ReadFile(filepath.Join(g.dir, g.cfg))
			if err != nil {
				t.Fatal(err)
			}
			tmpCfg := filepath.Join(t.TempDir(), "cfg.yaml")
			cfg = bytes.Replace(cfg, []byte("output: "+g.out), []byte("output: "+tmp), 1)
			if err := os.WriteFile(tmpCfg, cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), "go", "tool", "oapi-codegen", "-config", tmpCfg, g.spec)
			cmd.Dir = g.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("oapi-codegen: %v\n%s", err, out)
			}
			want, _ := os.ReadFile(tmp)
			got, err := os.ReadFile(filepath.Join(g.dir, g.out))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, got) {
				t.Fatalf("%s/%s is stale: run go generate ./gateway/...", g.dir, g.out)
			}
		})
	}
}
