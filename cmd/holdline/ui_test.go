package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium; CI=true makes its absence a failure
// (scripts/test installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not installed and CI=true: scripts/test installs it with apt-get")
	}
	t.Skip("chromium not installed; make test installs it")
	return ""
}

// artifactDir is where tests leave files for a person to look at.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("HOLDLINE_ARTIFACT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "holdline-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusPageInChromium loads /ui in headless Chromium, signs in with
// the admin token and checks that the crm tile shows a breaker an
// operator forced open, with who and why.
func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	t.Parallel()
	bin := chromium(t)
	d := startDev(t)
	if out, code := d.cli(t, "breaker", "open", "crm", "--reason", "CRM vendor incident 4521"); code != 0 {
		t.Fatalf("breaker open: %s", out)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser; its context must not carry the
	// timeout (chromedp: that would stop the browser), later ones may.
	if _, err := chromedp.Run(ctx, chromedp.Navigate(d.admin+"/ui")); err != nil {
		t.Fatalf("chromium: navigate: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// The page shows who did what: it asks for the admin token first and
	// keeps the session in an HttpOnly cookie.
	if _, err := chromedp.Run(ctx, chromedp.SendKeys(chromedp.CSS("#token"), d.token)); err != nil {
		t.Fatalf("chromium: type the token: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS("#sign-in"))); err != nil {
		t.Fatalf("chromium: sign in: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS("#dep-crm"))); err != nil {
		t.Fatalf("chromium: wait for the crm tile: %v", err)
	}
	breaker, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#dep-crm"), "data-breaker"))
	if err != nil {
		t.Fatal(err)
	}
	mode, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#dep-crm"), "data-mode"))
	if err != nil {
		t.Fatal(err)
	}
	tile, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#dep-crm")))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifactDir(t), "status-page-crm-forced-open.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if breaker.Value != "open" || mode.Value != "open" {
		t.Errorf("crm tile data-breaker=%q data-mode=%q, want open/open", breaker.Value, mode.Value)
	}
	if !strings.Contains(strings.ToLower(tile), "forced open") || !strings.Contains(tile, "CRM vendor incident 4521") {
		t.Errorf("crm tile text lacks the forced state and reason:\n%s", tile)
	}
	if !strings.Contains(title, "DEGRADED") {
		t.Errorf("page title = %q, want DEGRADED", title)
	}
}
