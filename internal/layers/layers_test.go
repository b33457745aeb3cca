// Package layers holds the test that keeps holdline's import rules: which
// package may import which. The rules, and why, are in
// docs/architecture.md; change both together.
package layers

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/holdline/holdline"

// rule forbids packages matching from to import packages matching to,
// unless the importer is listed in except.
type rule struct {
	why    string
	from   []string
	to     []string
	except []string
}

// match reports whether pkg (module-relative; "." is the root package)
// matches one of the patterns: "x" matches x itself, "x/..." matches x and
// everything below it, "*" matches every package.
func match(pkg string, patterns []string) bool {
	for _, p := range patterns {
		switch {
		case p == "*":
			return true
		case strings.HasSuffix(p, "/..."):
			base := strings.TrimSuffix(p, "/...")
			if pkg == base || strings.HasPrefix(pkg, base+"/") {
				return true
			}
		case p == pkg:
			return true
		}
	}
	return false
}

// leaves import nothing of holdline's: they are the vocabulary every other
// package may share.
var leaves = []string{
	".", // the domain error (error.go)
	"internal/config", "internal/upstream", "internal/phone", "internal/audit",
	"internal/authn", "internal/conversation", // ports: the gateway's view of identity and Dialogflow
	"internal/telemetry", "internal/sim", "internal/gcsemu", "internal/testenv", "openapi",
	"gateway/api", "gateway/adminapi",
	"internal/contract/dataclient", "internal/contract/adminclient", // ogen's clients
}

var rules = []rule{
	{why: "leaves import nothing of holdline's", from: leaves, to: []string{"*"}},
	{why: "only the binary and the bench harness build a sidecar",
		from: []string{"*"}, to: []string{"internal/sidecar"}, except: []string{"cmd/holdline", "bench"}},
	{why: "the gateway sees flows through the ports they define, never an adapter",
		from: []string{"gateway/..."}, to: []string{"adapters/...", "cache"}},
	{why: "adapters, stores and the policy layer know nothing of HTTP handlers, flows or wiring",
		from: []string{"adapters/...", "cache", "outbox/...", "internal/resilience"},
		to:   []string{"gateway/...", "internal/screenpop", "internal/interactions", "internal/capture", "internal/timeline", "internal/sidecar", "internal/drill", "cmd/..."}},
	{why: "the job catalogue is below the flows that queue and run its jobs",
		from: []string{"internal/timeline"}, to: []string{"internal/interactions", "internal/capture", "internal/screenpop", "internal/resilience"}},
	{why: "the CRM contract and the outbox see upstream errors, not the policies around them",
		from: []string{"adapters/crm", "outbox"}, to: []string{"internal/resilience"}},
	{why: "flows do not reach up into HTTP or wiring",
		from: []string{"internal/screenpop", "internal/interactions", "internal/capture"},
		to:   []string{"gateway", "internal/sidecar", "cmd/..."}},
	{why: "the CLI and the drills reach the admin plane through the generated client, not the server's code",
		from: []string{"cmd/...", "internal/drill"}, to: []string{"gateway"}},
	{why: "tracing is set up by the composition root; other packages take OpenTelemetry's provider and propagator",
		from: []string{"*"}, to: []string{"internal/tracing"}, except: []string{"internal/sidecar"}},
	{why: "the GCS emulator (fake-gcs-server) stays out of the holdline binary: only tests, the bench harness and holdline-sim run it",
		from: []string{"*"}, to: []string{"internal/gcsemu"}, except: []string{"cmd/holdline-sim", "bench"}},
	{why: "test-only packages stay out of production code",
		from: []string{"*"}, to: []string{"internal/testenv", "outbox/storetest", "adapters/crm/crmtest", "internal/contract/..."},
		except: []string{"outbox/storetest", "adapters/crm/crmtest"}},
}

// imports lists every package of the module with its non-test imports of
// the module's packages, module-relative.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	rel := func(p string) (string, bool) {
		if p == module {
			return ".", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg, ok := rel(f[0])
		if !ok {
			continue
		}
		got[pkg] = nil
		for _, imp := range f[1:] {
			if r, ok := rel(imp); ok {
				got[pkg] = append(got[pkg], r)
			}
		}
	}
	return got
}

func TestImportRules(t *testing.T) {
	pkgs := imports(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; is the test running inside the module?", len(pkgs))
	}
	for pkg, imps := range pkgs {
		for _, imp := range imps {
			for _, r := range rules {
				if match(pkg, r.from) && match(imp, r.to) && !match(pkg, r.except) {
					t.Errorf("%s imports %s: %s", pkg, imp, r.why)
				}
			}
		}
	}
}

// TestRulesNameRealPackages keeps the rules from rotting: a pattern that
// matches no package is a rule about nothing.
func TestRulesNameRealPackages(t *testing.T) {
	pkgs := imports(t)
	for _, r := range rules {
		for _, list := range [][]string{r.from, r.to, r.except} {
			for _, p := range list {
				if p == "*" {
					continue
				}
				found := false
				for pkg := range pkgs {
					if match(pkg, []string{p}) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("rule %q names %s, which is no package of the module", r.why, path.Clean(p))
				}
			}
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pkg, pattern string
		want         bool
	}{
		{"gateway", "gateway/...", true},
		{"gateway/api", "gateway/...", true},
		{"gatewayx", "gateway/...", false},
		{"gateway/api", "gateway", false},
		{".", ".", true},
		{"outbox", "*", true},
	} {
		if got := match(c.pkg, []string{c.pattern}); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pkg, c.pattern, got, c.want)
		}
	}
}

// TestReadmeLayout keeps the README's Layout section true: every package
// of the module is listed there, and every path listed exists.
func TestReadmeLayout(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Layout")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")
	listed := map[string]bool{}
	for line := range strings.Lines(block) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		// "gateway/api, adminapi" lists two packages on one line.
		first := strings.TrimSuffix(strings.TrimSuffix(f[0], ","), "/")
		listed[first] = true
		if strings.HasSuffix(f[0], ",") && len(f) > 1 {
			listed[path.Join(path.Dir(first), f[1])] = true
		}
	}
	for pkg := range imports(t) {
		if pkg == "." {
			pkg = "error.go"
		}
		if !listed[pkg] && !listed[path.Dir(pkg)] {
			t.Errorf("package %s is not in the README's Layout", pkg)
		}
	}
	for p := range listed {
		if _, err := os.Stat("../../" + p); err != nil {
			t.Errorf("the README's Layout lists %s, which does not exist", p)
		}
	}
}
