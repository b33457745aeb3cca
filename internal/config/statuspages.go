package config

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// StatusPages lists the vendor status pages holdline polls, so that an
// operator sees what a vendor says about itself next to the breaker of the
// dependency it concerns (/v1/status, holdline status, /ui, the
// holdline_status_page_indicator gauge). They are advisory: what a page
// says never trips a breaker and never fails over.
type StatusPages []StatusPage

// StatusPage is one vendor status page.
type StatusPage struct {
	// Name identifies the page in status and in the metric's page label:
	// 1-64 of a-z, 0-9, _ and -. Required, unique.
	Name string `yaml:"name"`
	// URL is the page's JSON document, e.g.
	// https://status.zendesk.com/api/v2/summary.json or
	// https://status.cloud.google.com/incidents.json. Required. Its host is
	// the only host the poller may dial (the egress allowlist).
	URL string `yaml:"url"`
	// Kind is the document's format: statuspage (Atlassian Statuspage's
	// /api/v2/status.json or /api/v2/summary.json), google_cloud (Google
	// Cloud's incidents.json) or json (any JSON document, read at
	// JSONPath). Required.
	Kind string `yaml:"kind"`
	// Dependency is the dependency the page concerns: crm, identity,
	// dialogflow, blob or redis. Required.
	Dependency string `yaml:"dependency"`
	// JSONPath, for kind json only (and required there), is the dotted
	// path of the value to read, e.g. status.indicator or
	// components.0.status. Its value is read as none, operational, ok, up
	// (operational), minor, degraded, degraded_performance (minor), major,
	// partial_outage, down, outage (major), critical or major_outage
	// (critical); anything else is unknown.
	JSONPath string `yaml:"json_path"`
	// Component narrows the page to what holdline uses: for statuspage, the
	// name of a component in summary.json (its status then counts, not the
	// page's overall indicator); for google_cloud, the product an incident
	// must affect (e.g. "Dialogflow CX"), matched on the incident's
	// affected products and service name, case-insensitively. Empty counts
	// the whole page. Not allowed with kind json.
	Component string `yaml:"component"`
	// Interval is how often the page is polled. Default 1m, at least 10s.
	Interval Duration `yaml:"interval"`
}

// StatusPageKinds are the formats a status page may have.
var StatusPageKinds = []string{"statuspage", "google_cloud", "json"}

var (
	statusPageName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_-]{1,64}$`) })
	jsonPathSeg    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^.\s]+$`) })
)

// MinStatusPageInterval is the shortest poll interval allowed: vendors'
// pages are cached for a minute or so and rate-limit heavy pollers.
const MinStatusPageInterval = 10 * time.Second

func (s StatusPages) applyDefaults() {
	for i := range s {
		setDur(&s[i].Interval, time.Minute)
	}
}

// Validate checks the status_pages list at path, every problem naming its
// entry (status_pages[0].url).
func (s StatusPages) Validate(path string) []error {
	v := &validator{}
	seen := map[string]bool{}
	for i, p := range s {
		at := fmt.Sprintf("%s[%d].", path, i)
		switch {
		case !statusPageName().MatchString(p.Name):
			v.add(at+"name", fmt.Sprintf("%q must be 1-64 of a-z, 0-9, _ and -", p.Name))
		case seen[p.Name]:
			v.add(at+"name", fmt.Sprintf("%q is used by another status page", p.Name))
		}
		seen[p.Name] = true
		v.url(at+"url", p.URL)
		v.oneOf(at+"kind", p.Kind, StatusPageKinds...)
		v.oneOf(at+"dependency", p.Dependency, Names...)
		switch {
		case p.Kind == "json" && p.JSONPath == "":
			v.add(at+"json_path", "is required with kind json")
		case p.Kind == "json" && !validJSONPath(p.JSONPath):
			v.add(at+"json_path", fmt.Sprintf("%q is not a dotted path such as status.indicator", p.JSONPath))
		case p.Kind != "json" && p.JSONPath != "":
			v.add(at+"json_path", "is only for kind json")
		}
		if p.Kind == "json" && p.Component != "" {
			v.add(at+"component", "is not for kind json: put the component in json_path")
		}
		if p.Interval.D() < MinStatusPageInterval {
			v.add(at+"interval", fmt.Sprintf("must be at least %s", MinStatusPageInterval))
		}
	}
	return v.errs
}

func validJSONPath(p string) bool {
	for seg := range strings.SplitSeq(strings.TrimPrefix(p, "$."), ".") {
		if !jsonPathSeg().MatchString(seg) {
			return false
		}
	}
	return true
}
