package statuspage

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse errors: the page answered, but not with what its kind expects.
var (
	// ErrFormat: the document is not of the configured kind.
	ErrFormat = errors.New("statuspage: document not of the configured kind")
	// ErrNoComponent: the configured component is not on the page.
	ErrNoComponent = errors.New("statuspage: component not on the page")
)

// verdict is what one document says.
type verdict struct {
	indicator   Indicator
	description string
	incidents   []string
	updatedAt   *time.Time
}

// parse reads body as a document of kind (config.StatusPageKinds),
// narrowed to component (statuspage, google_cloud) or read at path (json).
func parse(kind, component, path string, body []byte) (verdict, error) {
	switch kind {
	case "statuspage":
		return parseStatuspage(body, component)
	case "google_cloud":
		return parseGoogleCloud(body, component)
	case "json":
		return parseJSONPath(body, path)
	}
	return verdict{}, fmt.Errorf("%w: unknown kind %q", ErrFormat, kind)
}

// statuspageDoc is the part of Atlassian Statuspage's /api/v2/status.json
// and /api/v2/summary.json holdline reads.
type statuspageDoc struct {
	Page struct {
		UpdatedAt *time.Time `json:"updated_at"`
	} `json:"page"`
	Status *struct {
		Indicator   string `json:"indicator"`
		Description string `json:"description"`
	} `json:"status"`
	Components []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"components"`
	Incidents []struct {
		Name       string `json:"name"`
		Status     string `json:"status"`
		Impact     string `json:"impact"`
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
	} `json:"incidents"`
}

var pageIndicators = map[string]Indicator{
	"none": None, "minor": Minor, "major": Major, "critical": Critical, "maintenance": Minor,
}

var componentStatuses = map[string]Indicator{
	"operational": None, "under_maintenance": Minor, "degraded_performance": Minor,
	"partial_outage": Major, "major_outage": Critical,
}

func parseStatuspage(body []byte, component string) (verdict, error) {
	var d statuspageDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return verdict{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if d.Status == nil {
		return verdict{}, fmt.Errorf("%w: no status object (want /api/v2/status.json or summary.json)", ErrFormat)
	}
	v := verdict{updatedAt: d.Page.UpdatedAt}
	if component == "" {
		v.indicator, v.description = lookup(pageIndicators, d.Status.Indicator), d.Status.Description
		for _, in := range d.Incidents {
			v.incidents = appendIncident(v.incidents, in.Name)
		}
		return v, nil
	}
	if d.Components == nil {
		return verdict{}, fmt.Errorf("%w: component %q needs summary.json, which lists components", ErrNoComponent, component)
	}
	found := false
	for _, c := range d.Components {
		if strings.EqualFold(c.Name, component) {
			found = true
			v.indicator, v.description = lookup(componentStatuses, c.Status), c.Status
			break
		}
	}
	if !found {
		return verdict{}, fmt.Errorf("%w: %q", ErrNoComponent, component)
	}
	for _, in := range d.Incidents {
		for _, c := range in.Components {
			if strings.EqualFold(c.Name, component) {
				v.incidents = appendIncident(v.incidents, in.Name)
				break
			}
		}
	}
	return v, nil
}

// googleIncident is the part of an entry of Google Cloud's incidents.json
// holdline reads.
type googleIncident struct {
	ExternalDesc     string     `json:"external_desc"`
	End              *time.Time `json:"end"`
	Modified         *time.Time `json:"modified"`
	Severity         string     `json:"severity"`
	StatusImpact     string     `json:"status_impact"`
	ServiceName      string     `json:"service_name"`
	AffectedProducts []struct {
		Title string `json:"title"`
	} `json:"affected_products"`
	MostRecentUpdate struct {
		Status string `json:"status"`
	} `json:"most_recent_update"`
}

// active reports whether the incident is still open: no end, and its
// latest update does not say the service is available again.
func (g *googleIncident) active() bool {
	return (g.End == nil || g.End.IsZero()) && g.MostRecentUpdate.Status != "AVAILABLE"
}

func (g *googleIncident) affects(product string) bool {
	if product == "" || strings.EqualFold(g.ServiceName, product) {
		return true
	}
	for _, p := range g.AffectedProducts {
		if strings.EqualFold(p.Title, product) {
			return true
		}
	}
	return false
}

func (g *googleIncident) indicator() Indicator {
	switch g.StatusImpact {
	case "SERVICE_OUTAGE":
		if g.Severity == "high" {
			return Critical
		}
		return Major
	case "SERVICE_DISRUPTION":
		return Minor
	case "SERVICE_INFORMATION":
		return None
	}
	return Unknown
}

func parseGoogleCloud(body []byte, product string) (verdict, error) {
	var incidents []googleIncident
	if err := json.Unmarshal(body, &incidents); err != nil {
		return verdict{}, fmt.Errorf("%w: want a JSON array of incidents: %w", ErrFormat, err)
	}
	v := verdict{indicator: None}
	n := 0
	for i := range incidents {
		in := &incidents[i]
		if m := in.Modified; m != nil && (v.updatedAt == nil || m.After(*v.updatedAt)) {
			v.updatedAt = m
		}
		if !in.active() || !in.affects(product) {
			continue
		}
		n++
		v.indicator = worse(v.indicator, in.indicator())
		v.incidents = appendIncident(v.incidents, in.ExternalDesc)
	}
	switch n {
	case 0:
		v.description = "no active incidents"
	case 1:
		v.description = "1 active incident"
	default:
		v.description = strconv.Itoa(n) + " active incidents"
	}
	return v, nil
}

var jsonValues = map[string]Indicator{
	"none": None, "operational": None, "ok": None, "up": None, "healthy": None,
	"minor": Minor, "degraded": Minor, "degraded_performance": Minor,
	"major": Major, "partial_outage": Major, "down": Major, "outage": Major,
	"critical": Critical, "major_outage": Critical,
}

// parseJSONPath reads the value at path (dotted keys; a number indexes an
// array) and maps it with jsonValues; true is none, false major.
func parseJSONPath(body []byte, path string) (verdict, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return verdict{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	cur := doc
	for seg := range strings.SplitSeq(strings.TrimPrefix(path, "$."), ".") {
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[seg]
			if !ok {
				return verdict{}, fmt.Errorf("%w: no %q at %s", ErrFormat, seg, path)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(node) {
				return verdict{}, fmt.Errorf("%w: no element %q at %s", ErrFormat, seg, path)
			}
			cur = node[i]
		default:
			return verdict{}, fmt.Errorf("%w: %s does not reach a value", ErrFormat, path)
		}
	}
	switch val := cur.(type) {
	case string:
		return verdict{indicator: lookup(jsonValues, val), description: val}, nil
	case bool:
		if val {
			return verdict{indicator: None, description: "true"}, nil
		}
		return verdict{indicator: Major, description: "false"}, nil
	case float64:
		return verdict{indicator: Unknown, description: strconv.FormatFloat(val, 'g', -1, 64)}, nil
	}
	return verdict{}, fmt.Errorf("%w: %s is not a string, number or boolean", ErrFormat, path)
}

func lookup(m map[string]Indicator, s string) Indicator {
	if i, ok := m[strings.ToLower(strings.TrimSpace(s))]; ok {
		return i
	}
	return Unknown
}

func appendIncident(list []string, title string) []string {
	title = strings.TrimSpace(title)
	if title == "" || len(list) >= maxIncidents {
		return list
	}
	if r := []rune(title); len(r) > 200 {
		title = string(r[:200]) + "…"
	}
	return append(list, title)
}
