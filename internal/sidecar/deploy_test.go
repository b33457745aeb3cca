package sidecar

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// The files under deploy/ that query holdline's metrics.
const (
	alertRulesFile = "../../deploy/prometheus/alerts.yaml"
	dashboardFile  = "../../deploy/grafana/holdline.json"
)

// TestDeployQueriesNameExportedMetrics starts a dev sidecar (with a vendor
// status page), drives a little
// traffic through it (so that the series created on first use exist), reads
// its /metrics, and checks that every metric named by an alert rule or a
// dashboard query is exported: a renamed metric breaks this test, not an
// operator's alert in the middle of an incident.
//
// Metric names are taken from the PromQL with a regexp rather than the
// Prometheus parser (github.com/prometheus/prometheus is a very large
// module): string literals ("...") are removed first, then every token
// starting with holdline_ is a metric name (no PromQL function, keyword or
// holdline label starts with it).
func TestDeployQueriesNameExportedMetrics(t *testing.T) {
	page := startVendorPage(t, "statuspage_status_major.json")
	ts := startDev(t, func(c *config.Config) {
		c.StatusPages = config.StatusPages{{Name: "zendesk", URL: page + "/api/v2/status.json", Kind: "statuspage",
			Dependency: "crm", Interval: config.Duration(time.Minute)}}
		// Active checks, so holdline_endpoint_health is exported.
		c.Dependencies.CRM.HealthCheck = config.HealthCheck{Path: "/healthz", Interval: config.Duration(time.Minute),
			Timeout: config.Duration(time.Second), HealthyThreshold: 2, UnhealthyThreshold: 3}
	})
	driveTraffic(t, ts)
	exported := scrapeNames(t, ts.admin+"/metrics")
	// The CRM API quota gauges exist only with a CRM that reports its
	// usage: a second sidecar on the simulator's Salesforce dialect.
	crm := httptest.NewServer(sim.NewCRM(sim.CRMOptions{}).Handler())
	t.Cleanup(crm.Close)
	sf := startDev(t, func(c *config.Config) {
		c.Dependencies.CRM.Kind, c.Dependencies.CRM.Endpoints.Primary = "salesforce", crm.URL
	})
	sf.pop(t, "+14155550100")
	maps.Copy(exported, scrapeNames(t, sf.admin+"/metrics"))
	// The admin certificate's expiry exists only with admin.tls: a third
	// sidecar serving its admin plane over TLS.
	dir := t.TempDir()
	files := config.AdminTLS{CertFile: dir + "/tls.crt", KeyFile: dir + "/tls.key"}
	writeCert(t, files.CertFile, files.KeyFile, 1, time.Now())
	tl := startDev(t, func(c *config.Config) { c.Admin.TLS = files })
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	maps.Copy(exported, familyNames(scrapeWith(t, tlsClient, "https://"+tl.AdminAddr()+"/metrics")))

	queries := map[string]string{} // where -> PromQL
	for where, expr := range alertExprs(t) {
		queries[where] = expr
	}
	for where, expr := range dashboardExprs(t) {
		queries[where] = expr
	}
	if len(queries) < 40 {
		t.Fatalf("found %d queries in %s and %s, want the whole files read", len(queries), alertRulesFile, dashboardFile)
	}
	used := map[string]bool{}
	for _, where := range slices.Sorted(maps.Keys(queries)) {
		names := metricNames(queries[where])
		if len(names) == 0 {
			t.Errorf("%s: %q names no holdline metric", where, queries[where])
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				t.Errorf("%s: metric %s is not in a dev sidecar's /metrics", where, n)
			}
		}
	}
	t.Logf("%d queries name %d distinct metrics", len(queries), len(used))
}

var (
	promString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricName = regexp.MustCompile(`\bholdline_[a-zA-Z0-9_:]*`)
)

// metricNames returns the holdline metric names a PromQL expression (or a
// Grafana label_values(...) query) reads.
func metricNames(expr string) []string {
	return metricName.FindAllString(promString.ReplaceAllString(expr, `""`), -1)
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`sum by (dependency) (rate(holdline_dependency_requests_total{outcome=~"holdline_not_a_metric|x"}[5m])) / holdline_spool_max_bytes`)
	if want := []string{"holdline_dependency_requests_total", "holdline_spool_max_bytes"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

// alertExprs reads every rule's expr from the alert rules file.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[fmt.Sprintf("alerts.yaml %s/%s%s", g.Name, r.Alert, r.Record)] = r.Expr
		}
	}
	return out
}

// dashboardExprs reads every panel target's expr and every templating
// query from the dashboard, rows' nested panels included.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string]string{}
	var walk func(raw []json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", dashboardFile, err)
			}
			for _, tg := range p.Targets {
				out[fmt.Sprintf("holdline.json panel %q target %s", p.Title, tg.RefID)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("%s: variable %s: %v", dashboardFile, v.Name, err)
		}
		out["holdline.json variable "+v.Name] = q.Query
	}
	return out
}

// scrapeNames reads a /metrics page and returns the names a query can use:
// each family's name, and for histograms and summaries the _bucket, _sum
// and _count series too.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	return familyNames(scrapeWith(t, http.DefaultClient, url))
}

// scrapeWith reads a /metrics page with c (with the admin token).
func scrapeWith(t *testing.T, c *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return fams
}

// familyNames returns the names a query can use of the families in fams.
func familyNames(fams map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range fams {
		names[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
			names[name+"_sum"], names[name+"_count"] = true, true
			if f.GetType() == dto.MetricType_HISTOGRAM {
				names[name+"_bucket"] = true
			}
		}
	}
	return names
}

// driveTraffic makes the series that appear on first use exist: a screen
// pop, a CRM record (an outbox job), a Dialogflow turn, a token verified;
// then, under injected faults, a Dialogflow fallback and a CRM write that
// the CRM refuses (422), which goes dead. It returns once the dead job
// shows in /metrics.
func driveTraffic(t *testing.T, ts *testSidecar) {
	t.Helper()
	ts.pop(t, "+14155550100")
	if code := ts.post(t, ts.data+"/v1/interactions/deploy-1/record", `{"subject":"metrics","channel":"voice"}`, nil); code != 201 {
		t.Fatalf("POST record = %d, want 201", code)
	}
	if code := ts.post(t, ts.data+"/v1/dialogflow/support/sessions/s-1/detect-intent", `{"text":"hello","language_code":"en"}`, nil); code != 200 {
		t.Fatalf("detect-intent = %d", code)
	}
	var tok struct {
		JWT string `json:"jwt"`
	}
	ts.get(t, ts.admin+"/dev/idp/token?sub=agent-1", &tok)
	if code := ts.post(t, ts.data+"/v1/identity/verify", `{"token":"`+tok.JWT+`"}`, nil); code != 200 {
		t.Fatalf("identity verify = %d", code)
	}

	for _, f := range []string{
		`{"dependency":"crm","error_rate":1,"status":422,"duration":"5m"}`,
		`{"dependency":"dialogflow","error_rate":1,"status":503,"duration":"5m"}`,
	} {
		if code := ts.post(t, ts.admin+"/v1/admin/faults", f, nil); code != 201 {
			t.Fatalf("POST fault %s = %d", f, code)
		}
	}
	if code := ts.post(t, ts.data+"/v1/dialogflow/support/sessions/s-2/detect-intent", `{"text":"hello","language_code":"en"}`, nil); code != 200 {
		t.Fatalf("detect-intent under a fault = %d", code)
	}
	if code := ts.post(t, ts.data+"/v1/interactions/deploy-2/record", `{"subject":"refused","channel":"voice"}`, nil); code != 202 {
		t.Fatalf("POST record the CRM refuses = %d, want 202 queued", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !scrapeNames(t, ts.admin+"/metrics")["holdline_outbox_dead_total"] {
		if time.Now().After(deadline) {
			t.Fatal("the refused write did not go dead within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
