package statuspage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

// vendor is a status page served from loopback: it answers the testdata
// file it is told to, or a status code.
type vendor struct {
	srv  *httptest.Server
	mu   sync.Mutex
	file string
	code int
	hits atomic.Int64
}

func startVendor(t *testing.T, file string) *vendor {
	t.Helper()
	v := &vendor{file: file, code: http.StatusOK}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.hits.Add(1)
		v.mu.Lock()
		file, code := v.file, v.code
		v.mu.Unlock()
		if code != http.StatusOK {
			http.Error(w, "unavailable", code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(readFile(t, file))
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendor) serve(file string, code int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.file, v.code = file, code
}

// advisory builds the pages' dependency as the sidecar does: a defaulted
// policy whose allowlist is the pages' hosts (loopback not otherwise
// allowed, so the allowlist is what admits the test server).
func advisory(t *testing.T, pages []config.StatusPage, allow ...string) *resilience.Dependency {
	t.Helper()
	p := config.Default().Dependencies.Identity
	p.Retry.Backoff = config.Duration(time.Millisecond)
	if allow == nil {
		var urls []string
		for _, pg := range pages {
			urls = append(urls, pg.URL)
		}
		hosts, err := resilience.AllowHosts(urls...)
		if err != nil {
			t.Fatal(err)
		}
		allow = hosts
	}
	p.Allow = allow
	d, err := resilience.NewAdvisory("status_pages", p, resilience.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func page(name, url, kind, dep, component string) config.StatusPage {
	return config.StatusPage{Name: name, URL: url, Kind: kind, Dependency: dep, Component: component, Interval: config.Duration(time.Minute)}
}

// TestPollerReportsAndGauge: a Statuspage showing a major outage is
// reported (and exported) as major beside the CRM; when the page stops
// answering, the report turns unknown with a reason and keeps the last
// successful poll's time; when it recovers, it says so.
func TestPollerReportsAndGauge(t *testing.T) {
	zd := startVendor(t, "statuspage_summary.json")
	gc := startVendor(t, "google_cloud_incidents.json")
	pages := []config.StatusPage{
		page("zendesk", zd.srv.URL+"/api/v2/summary.json", "statuspage", "crm", "Support"),
		page("google", gc.srv.URL+"/incidents.json", "google_cloud", "dialogflow", "Dialogflow CX"),
	}
	clock := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	p := New(pages, advisory(t, pages), Options{Now: func() time.Time { return clock }})
	reg := prometheus.NewRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Reports() {
		if r.Indicator != Unknown || r.CheckedAt != nil {
			t.Errorf("before a poll: %+v, want unknown, never checked", r)
		}
	}

	p.PollAll(t.Context())
	r := p.Reports()
	if r[0].Indicator != Major || r[0].Dependency != "crm" || r[0].Description != "partial_outage" || len(r[0].Incidents) != 1 ||
		r[0].CheckedAt == nil || !r[0].CheckedAt.Equal(clock) || r[0].VendorUpdatedAt == nil || r[0].LastError != "" {
		t.Errorf("zendesk report = %+v, want major partial_outage with its incident, checked now", r[0])
	}
	if r[1].Indicator != Major || r[1].Dependency != "dialogflow" || r[1].Description != "1 active incident" {
		t.Errorf("google report = %+v, want major, 1 active incident", r[1])
	}
	if got := gauges(t, reg); got["zendesk/crm"] != 2 || got["google/dialogflow"] != 2 || len(got) != 2 {
		t.Errorf("holdline_status_page_indicator = %v, want zendesk/crm 2, google/dialogflow 2", got)
	}

	checked := clock
	clock = clock.Add(time.Minute)
	zd.serve("", http.StatusServiceUnavailable)
	p.PollAll(t.Context())
	r = p.Reports()
	if r[0].Indicator != Unknown || r[0].LastError != "status page: http 503" || r[0].CheckedAt == nil || !r[0].CheckedAt.Equal(checked) {
		t.Errorf("zendesk unreadable = %+v, want unknown, http 503, last checked at the first poll", r[0])
	}
	if v := gauges(t, reg)["zendesk/crm"]; v != -1 {
		t.Errorf("gauge while unreadable = %v, want -1", v)
	}

	clock = clock.Add(time.Minute)
	zd.serve("statuspage_summary_ok.json", http.StatusOK)
	p.PollAll(t.Context())
	if r := p.Reports()[0]; r.Indicator != None || r.Description != "operational" || r.LastError != "" || len(r.Incidents) != 0 || !r.CheckedAt.Equal(clock) {
		t.Errorf("zendesk recovered = %+v, want none, operational, no incidents, checked now", r)
	}
	if v := gauges(t, reg)["zendesk/crm"]; v != 0 {
		t.Errorf("gauge after recovery = %v, want 0", v)
	}
}

// gauges returns holdline_status_page_indicator by "page/dependency".
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "holdline_status_page_indicator" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out[l["page"]+"/"+l["dependency"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestPollerEgress: a page whose host is not on the allowlist is never
// dialled; the report says egress denied.
func TestPollerEgress(t *testing.T) {
	v := startVendor(t, "statuspage_status_major.json")
	pages := []config.StatusPage{page("zendesk", v.srv.URL+"/api/v2/status.json", "statuspage", "crm", "")}
	p := New(pages, advisory(t, pages, "status.example.com"), Options{})
	p.PollAll(t.Context())
	if r := p.Reports()[0]; r.Indicator != Unknown || r.LastError != "status page: egress denied" {
		t.Errorf("report = %+v, want unknown, egress denied", r)
	}
	if n := v.hits.Load(); n != 0 {
		t.Errorf("the vendor got %d requests, want none", n)
	}
}

// TestPollerRun polls at once when it starts and returns when ctx ends.
func TestPollerRun(t *testing.T) {
	v := startVendor(t, "statuspage_status_major.json")
	pages := []config.StatusPage{page("zendesk", v.srv.URL+"/api/v2/status.json", "statuspage", "crm", "")}
	p := New(pages, advisory(t, pages), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for p.Reports()[0].Indicator != Major {
		if time.Now().After(deadline) {
			t.Fatal("Run did not poll within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
