package statuspage

import "time"

// Indicator is how bad a vendor says things are, in Statuspage's scale.
type Indicator string

const (
	// Unknown: the page has not been read, cannot be read, or says
	// something this package does not understand.
	Unknown Indicator = "unknown"
	// None: operational.
	None Indicator = "none"
	// Minor: degraded performance, a disruption, maintenance.
	Minor Indicator = "minor"
	// Major: a partial outage.
	Major Indicator = "major"
	// Critical: a major outage.
	Critical Indicator = "critical"
)

// Value is the indicator as holdline_status_page_indicator exports it: -1
// unknown, 0 none, 1 minor, 2 major, 3 critical.
func (i Indicator) Value() float64 {
	switch i {
	case None:
		return 0
	case Minor:
		return 1
	case Major:
		return 2
	case Critical:
		return 3
	}
	return -1
}

// worse returns the worse of a and b (Unknown ranks below None).
func worse(a, b Indicator) Indicator {
	if b.Value() > a.Value() {
		return b
	}
	return a
}

// Report is what one page said at its last poll.
type Report struct {
	// Name, Dependency, Kind and URL are the page's config.
	Name       string
	Dependency string
	Kind       string
	URL        string
	// Indicator is the vendor's verdict; Unknown until a poll succeeds
	// and while the page cannot be read.
	Indicator Indicator
	// Description is the vendor's own words: the page's status
	// description, or the component's status, or the active incidents'
	// count; empty before a successful poll.
	Description string
	// Incidents are the titles of the unresolved incidents that count
	// (at most maxIncidents), newest first where the page orders them.
	Incidents []string
	// VendorUpdatedAt is when the vendor last changed the page, when it
	// says.
	VendorUpdatedAt *time.Time
	// CheckedAt is the last successful poll; nil before one.
	CheckedAt *time.Time
	// LastError is why the last poll failed (a reason without internal
	// detail); empty when it succeeded.
	LastError string
}

// maxIncidents bounds Report.Incidents.
const maxIncidents = 5
