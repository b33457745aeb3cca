package statuspage

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// The testdata documents have the shapes the vendors publish: Atlassian
// Statuspage's /api/v2/status.json and /api/v2/summary.json (page, status,
// components, incidents with incident_updates) and Google Cloud's
// incidents.json (an array of incidents with most_recent_update,
// status_impact, severity, affected_products, end once resolved).
func TestParse(t *testing.T) {
	tests := []struct {
		name, file, kind, component, path string
		want                              Indicator
		description                       string
		incidents                         []string
	}{
		{"statuspage status.json, major", "statuspage_status_major.json", "statuspage", "", "", Major, "Partial System Outage", nil},
		{"statuspage status.json, operational", "statuspage_status_ok.json", "statuspage", "", "", None, "All Systems Operational", nil},
		{"statuspage summary.json, whole page", "statuspage_summary.json", "statuspage", "", "", Major, "Partial System Outage",
			[]string{"Elevated API error rates for Support in pod 23"}},
		{"statuspage summary.json, the degraded component", "statuspage_summary.json", "statuspage", "support", "", Major, "partial_outage",
			[]string{"Elevated API error rates for Support in pod 23"}},
		{"statuspage summary.json, an operational component", "statuspage_summary.json", "statuspage", "Talk", "", None, "operational", nil},
		{"google cloud, Dialogflow CX outage", "google_cloud_incidents.json", "google_cloud", "Dialogflow CX", "", Major, "1 active incident",
			[]string{"Dialogflow CX customers in us-central1 are experiencing elevated latency and errors on DetectIntent."}},
		{"google cloud, a product with only resolved or no incidents", "google_cloud_incidents.json", "google_cloud", "Cloud Run", "", None, "no active incidents", nil},
		{"google cloud, every product", "google_cloud_incidents.json", "google_cloud", "", "", Major, "2 active incidents",
			[]string{"Dialogflow CX customers in us-central1 are experiencing elevated latency and errors on DetectIntent.", "Cloud Storage requests in europe-west1 see increased error rates."}},
		{"json path to a string", "generic.json", "json", "", "health.checks.0.state", Minor, "degraded", nil},
		{"json path to a boolean", "generic.json", "json", "", "$.health.ok", Major, "false", nil},
		{"statuspage status read as json", "statuspage_status_major.json", "json", "", "status.indicator", Major, "major", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parse(tt.kind, tt.component, tt.path, readFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if v.indicator != tt.want || v.description != tt.description || !slices.Equal(v.incidents, tt.incidents) {
				t.Errorf("parse = %s %q %q, want %s %q %q", v.indicator, v.description, v.incidents, tt.want, tt.description, tt.incidents)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, file, kind, component, path string
		want                              error
	}{
		{"an incidents array as statuspage", "google_cloud_incidents.json", "statuspage", "", "", ErrFormat},
		{"a statuspage object as google cloud", "statuspage_summary.json", "google_cloud", "", "", ErrFormat},
		{"a component on status.json", "statuspage_status_major.json", "statuspage", "Support", "", ErrNoComponent},
		{"a component not on the page", "statuspage_summary.json", "statuspage", "Guide", "", ErrNoComponent},
		{"a json path that is not there", "generic.json", "json", "", "health.checks.3.state", ErrFormat},
		{"a json path to an object", "generic.json", "json", "", "health", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.kind, tt.component, tt.path, readFile(t, tt.file))
			if !errors.Is(err, tt.want) {
				t.Errorf("parse error = %v, want %v", err, tt.want)
			}
		})
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
