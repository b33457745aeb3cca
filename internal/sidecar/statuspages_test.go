package sidecar

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// startVendorPage serves a recorded status page document from loopback
// (the statuspage adapter's testdata) and returns its URL.
func startVendorPage(t *testing.T, file string) string {
	t.Helper()
	body, err := os.ReadFile("../../adapters/statuspage/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type vendorStatus struct {
	Name        string   `json:"name"`
	Indicator   string   `json:"indicator"`
	Description string   `json:"description"`
	Incidents   []string `json:"incidents"`
	CheckedAt   *string  `json:"checked_at"`
	LastError   string   `json:"last_error"`
}

type depWithVendor struct {
	Name           string         `json:"name"`
	Breaker        string         `json:"breaker"`
	ActiveEndpoint string         `json:"active_endpoint"`
	VendorStatus   []vendorStatus `json:"vendor_status"`
}

// TestStatusPageBesideBreaker: with a recorded Statuspage summary showing
// a major outage configured for the CRM, /v1/status shows it in the CRM's
// row within the first poll; the CRM's breaker stays closed and its
// endpoint primary (the page is advisory), and screen pops still come from
// the CRM.
func TestStatusPageBesideBreaker(t *testing.T) {
	pageURL := startVendorPage(t, "statuspage_summary.json")
	ts := startDev(t, func(c *config.Config) {
		c.StatusPages = config.StatusPages{{Name: "zendesk", URL: pageURL + "/api/v2/summary.json", Kind: "statuspage",
			Dependency: "crm", Interval: config.Duration(time.Minute)}}
	})
	var crm depWithVendor
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct {
			Dependencies []depWithVendor `json:"dependencies"`
		}
		ts.get(t, ts.admin+"/v1/status", &st)
		for _, d := range st.Dependencies {
			if d.Name == "crm" {
				crm = d
			} else if d.VendorStatus != nil {
				t.Errorf("%s has vendor_status %+v, want none (the page concerns the crm)", d.Name, d.VendorStatus)
			}
		}
		if len(crm.VendorStatus) == 1 && crm.VendorStatus[0].CheckedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("crm status after 10s = %+v, want the page polled", crm)
		}
		time.Sleep(10 * time.Millisecond)
	}
	vs := crm.VendorStatus[0]
	if vs.Name != "zendesk" || vs.Indicator != "major" || vs.Description != "Partial System Outage" || len(vs.Incidents) != 1 || vs.LastError != "" {
		t.Errorf("crm vendor_status = %+v, want zendesk major Partial System Outage with one incident", vs)
	}
	if crm.Breaker != "closed" || crm.ActiveEndpoint != "primary" {
		t.Errorf("crm breaker %s on %s, want closed on primary: a status page is advisory", crm.Breaker, crm.ActiveEndpoint)
	}
	if p := ts.pop(t, "+14155550100"); p.Source != "crm" || p.Degraded {
		t.Errorf("screen pop = %+v, want from the crm, not degraded", p)
	}

	// /ui shows it in the CRM's tile, beside the breaker (after signing in:
	// /ui needs the admin token).
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ui := &http.Client{Jar: jar}
	login, err := ui.PostForm(ts.admin+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	resp, err := ui.Get(ts.admin + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui after signing in = %d, want 200", resp.StatusCode)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	start := strings.Index(page, `id="dep-crm"`)
	if start < 0 {
		t.Fatalf("/ui has no crm tile:\n%s", page)
	}
	tile := page[start:]
	if end := strings.Index(tile[1:], `id="dep-`); end >= 0 {
		tile = tile[:end+1]
	}
	if !strings.Contains(tile, `id="vendor-zendesk" data-indicator="major"`) || !strings.Contains(tile, "Partial System Outage") {
		t.Errorf("/ui crm tile does not show the vendor's major outage:\n%s", tile)
	}
	if !strings.Contains(page, `id="dep-redis"`) || !strings.Contains(page, `id="outbox"`) {
		t.Errorf("/ui did not render past the tiles (a tile without a vendor page must render too):\n%s", page)
	}
	if strings.Count(page, `id="vendor-`) != 1 {
		t.Errorf("/ui shows %d vendor lines, want 1 (in the crm tile)", strings.Count(page, `id="vendor-`))
	}
}
