package gateway

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"golang.org/x/net/html"
)

func newSet(t *testing.T) *resilience.Set {
	t.Helper()
	deps := config.Default().Dependencies
	deps.CRM.Endpoints.Primary, deps.CRM.Endpoints.Secondary = "http://127.0.0.1:1", "http://127.0.0.1:2"
	set, err := resilience.NewSet(deps, resilience.Options{Logger: slog.New(slog.DiscardHandler), AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestStatusPageRendersTiles(t *testing.T) {
	set := newSet(t)
	p := newPlanes(t, func(o *Options) { o.Services.Dependencies = set })
	if err := set.Get("crm").SetBreakerMode(resilience.BreakerOpen, "oncall", "vendor incident"); err != nil {
		t.Fatal(err)
	}
	c := signIn(t, p.admin.URL, testToken)
	resp, body := get(t, c, p.admin.URL+"/ui")
	page := string(body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ui = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`id="dep-crm" data-breaker="open" data-mode="open"`, "by oncall: vendor incident", `id="dep-identity" data-breaker="closed"`, "fail over to secondary"} {
		if !strings.Contains(page, want) {
			t.Errorf("/ui lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "src=", "http://", "https://", "@import"} {
		if strings.Contains(page, banned) {
			t.Errorf("/ui contains %q: the page must work without JavaScript and load nothing external", banned)
		}
	}
}

func TestStatusPageFormsNeedTheToken(t *testing.T) {
	set := newSet(t)
	p := newPlanes(t, func(o *Options) { o.Services.Dependencies = set; o.MaxBodyBytes = 4096 })
	post := func(form url.Values) *http.Response {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(p.admin.URL+"/ui/breaker", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {"x"}, "token": {"wrong"}})
	if resp.StatusCode != 401 || set.Get("crm").BreakerMode() != resilience.BreakerAuto {
		t.Fatalf("form with a wrong token = %d, mode %s; want 401 and no change", resp.StatusCode, set.Get("crm").BreakerMode())
	}
	resp = post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {""}, "token": {testToken}})
	if resp.StatusCode != 400 {
		t.Fatalf("form without a reason = %d, want 400", resp.StatusCode)
	}
	resp = post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {strings.Repeat("r", 501)}, "token": {testToken}})
	if resp.StatusCode != 400 || set.Get("crm").BreakerMode() != resilience.BreakerAuto {
		t.Fatalf("form with a 501-character reason = %d, mode %s; want 400 and no change", resp.StatusCode, set.Get("crm").BreakerMode())
	}
	resp = post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {"drill"}, "token": {testToken}})
	if resp.StatusCode != http.StatusSeeOther || set.Get("crm").BreakerMode() != resilience.BreakerOpen {
		t.Fatalf("form with the token = %d, mode %s; want 303 and forced open", resp.StatusCode, set.Get("crm").BreakerMode())
	}

	// The redirect's flash is shown; a link's own text is not.
	c := signIn(t, p.admin.URL, testToken)
	_, body := get(t, c, p.admin.URL+resp.Header.Get("Location"))
	if !strings.Contains(string(body), `id="flash">crm breaker set to open by oncall<`) {
		t.Errorf("/ui after the form lacks the flash:\n%s", body)
	}
	_, body = get(t, c, p.admin.URL+"/ui?flash="+url.QueryEscape("call 555-0100 to restore service"))
	if strings.Contains(string(body), "555-0100") {
		t.Errorf("/ui shows an unsigned flash from a link")
	}
}

// hostile is text a dependency, a vendor's status page or an operator's
// reason could carry: markup, a script and both kinds of quote.
const hostile = `<script>alert("x")</script><b title='y'>&amp;`

// TestStatusPageEscapesHostileText renders /ui with hostile text in every
// field that comes from outside (reasons, errors, a vendor status page,
// the audit log, the flash) and checks that a browser's parser reads it
// back as that text: no element, no attribute and no script comes of it.
func TestStatusPageEscapesHostileText(t *testing.T) {
	over := &adminapi.Override{Actor: hostile, Reason: hostile}
	vendors := []adminapi.VendorStatus{{Name: hostile, Indicator: "major", Description: hostile, LastError: hostile, Incidents: []string{hostile}}}
	page := uiPage{
		Version: hostile, Mode: "dev", StartedAt: hostile, Now: hostile, Actor: hostile, Flash: hostile,
		Degraded: true, DrillsEnabled: true,
		Dependencies: []uiDependency{{DependencyStatus: adminapi.DependencyStatus{
			Name: "crm", Breaker: "open", BreakerMode: "open", BreakerOverride: over, EndpointOverride: over,
			ActiveEndpoint: "primary", LastError: hostile, VendorStatus: &vendors,
		}, HasSecondary: true}},
		Outbox: &uiOutbox{OldestAge: hostile},
		Faults: []uiFault{{ID: hostile, Dependency: hostile, What: hostile, Actor: hostile, Expires: hostile}},
		Audit:  []uiAudit{{Time: hostile, Actor: hostile, Action: hostile, Target: hostile, Reason: hostile, Result: hostile}},
	}
	var b strings.Builder
	if err := statusHTML(page).Render(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	texts, vendorIDs := 0, 0
	for n := range doc.Descendants() {
		switch {
		case n.Type == html.ElementNode && (n.Data == "script" || n.Data == "b" && hasAttr(n, "title", "y")):
			t.Errorf("/ui made a <%s> element of hostile text:\n%s", n.Data, b.String())
		case n.Type == html.ElementNode && hasAttr(n, "id", "vendor-"+hostile):
			vendorIDs++
		case n.Type == html.TextNode:
			texts += strings.Count(n.Data, hostile)
		}
	}
	// Version, start, refresh, actor, flash; override actor and reason
	// twice; last error; vendor name, description, error, incident; oldest
	// age; five fault fields; six audit fields.
	if want := 5 + 4 + 1 + 4 + 1 + 5 + 6; texts != want {
		t.Errorf("/ui shows the hostile text %d times as text, want %d:\n%s", texts, want, b.String())
	}
	if vendorIDs != 1 {
		t.Errorf("/ui has %d vendor lines whose id attribute holds the hostile name, want 1", vendorIDs)
	}
	if strings.Contains(b.String(), "<script") {
		t.Errorf("/ui contains <script:\n%s", b.String())
	}
}

// TestStatusPageEscapesReason: a reason given with a breaker change, read
// back from the live /ui, is text on the page and never markup.
func TestStatusPageEscapesReason(t *testing.T) {
	set := newSet(t)
	p := newPlanes(t, func(o *Options) { o.Services.Dependencies = set })
	if err := set.Get("crm").SetBreakerMode(resilience.BreakerOpen, "oncall", hostile); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, signIn(t, p.admin.URL, testToken), p.admin.URL+"/ui")
	page := string(body)
	if strings.Contains(page, "<script") || !strings.Contains(page, "by oncall: "+html.EscapeString(hostile)) {
		t.Errorf("/ui does not show the reason escaped as text:\n%s", page)
	}
}

func hasAttr(n *html.Node, key, val string) bool {
	for _, a := range n.Attr {
		if a.Key == key && a.Val == val {
			return true
		}
	}
	return false
}

// TestTemplCodeIsFresh regenerates the pages' Go code from the .templ
// files in a temporary directory and fails when the committed code
// differs: run `go generate ./gateway/`.
func TestTemplCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	// The generated code names its .templ file relative to the working
	// directory, so the generator runs in the temporary one.
	tool, err := exec.CommandContext(t.Context(), "go", "tool", "-n", "templ").Output()
	if err != nil {
		t.Fatalf("go tool -n templ: %v", err)
	}
	for _, name := range []string{"ui_status", "ui_login"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(name + ".templ")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name+".templ"), src, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), strings.TrimSpace(string(tool)), "generate", "-f", name+".templ")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("templ generate: %v\n%s", err, out)
			}
			want, err := os.ReadFile(filepath.Join(dir, name+"_templ.go"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(name + "_templ.go")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, got) {
				t.Fatalf("%s_templ.go is stale: run go generate ./gateway/", name)
			}
		})
	}
}

// TestGatewayExecutesNoTemplates: the gateway imports neither
// html/template nor text/template. Executing either reaches reflect's
// Method, and then the linker keeps every exported method of every type
// (the production binary grew from about 37 MB to 49 MB); the pages are
// templ components instead.
func TestGatewayExecutesNoTemplates(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "github.com/a-h/templ") {
		t.Fatalf("go list lists no github.com/a-h/templ among the gateway's imports; is the test running in gateway?\n%s", out)
	}
	for _, pkg := range imports {
		if pkg == "html/template" || pkg == "text/template" {
			t.Errorf("gateway imports %s", pkg)
		}
	}
}
