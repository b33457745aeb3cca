package main

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServeDevIsReadyQuickly(t *testing.T) {
	t.Parallel()
	start := time.Now()
	d := startDev(t)
	ready := time.Since(start)
	t.Logf("dev mode ready in %v", ready)
	if !strings.Contains(d.stdout.String(), "curl") {
		t.Errorf("banner has no example curl commands:\n%s", d.stdout.String())
	}
	if n := strings.Count(d.stdout.String(), "curl -s"); n < 3 {
		t.Errorf("banner has %d curl examples, want 3", n)
	}
	if len(d.token) < 32 {
		t.Errorf("generated admin token %q is too short", d.token)
	}
	if strings.Contains(d.stderr.String(), d.token) {
		t.Errorf("the admin token appears in the logs")
	}
	// The token from the banner authorizes admin calls.
	req, _ := http.NewRequest("GET", d.admin+"/v1/admin/faults", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		t.Errorf("the banner's token was refused")
	}
}

func TestServeStopsCleanlyAndRemovesTempDir(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	dir := regexp.MustCompile(`data dir\s+(\S+)`).FindStringSubmatch(d.stdout.String())
	if dir == nil {
		t.Fatalf("no data dir in banner")
	}
	if _, err := os.Stat(dir[1]); err != nil {
		t.Fatalf("data dir %s: %v", dir[1], err)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("serve returned %v after SIGTERM-equivalent, want nil (exit 0)", err)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("temporary data dir %s still exists after a clean stop", dir[1])
	}
	if !strings.Contains(d.stderr.String(), `"msg":"holdline stopped"`) {
		t.Errorf("no stop log line:\n%s", d.stderr.String())
	}
}

func TestServeKeepsGivenDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDev(t, "--data-dir", dir)
	if !strings.Contains(d.stdout.String(), dir) {
		t.Errorf("banner does not show --data-dir %s", dir)
	}
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("--data-dir %s removed: %v", dir, err)
	}
}

func TestServeNeedsDevOrConfig(t *testing.T) {
	t.Parallel()
	var out, errb syncBuffer
	err := run(t.Context(), []string{"holdline", "serve"}, func(string) string { return "" }, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--dev or --config") {
		t.Fatalf("serve without flags = %v, want a usage error", err)
	}
}

func TestServePortTaken(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	addr := strings.TrimPrefix(d.admin, "http://")
	var out, errb syncBuffer
	err := run(t.Context(), []string{"holdline", "serve", "--dev", "--listen", "127.0.0.1:0", "--admin-listen", addr}, func(string) string { return "" }, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "admin listen") {
		t.Fatalf("serve on a taken port = %v, want a listen error", err)
	}
}
