package conversation

import (
	"context"
	"time"
)

// Service runs virtual-agent turns and reports the agents. It is the port
// the gateway calls; adapters/dialogflow.Client implements it.
// Implementations are safe for concurrent use.
type Service interface {
	// DetectIntent runs one turn of session sessionID on agent alias and
	// answers within the alias's budget, falling back to the alias's
	// hand-off when the agent fails: the agent's own trouble is never an
	// error. Its errors are *holdline.Error values: ENOTFOUND for "agent"
	// (an unknown alias) and EINVALID naming the input field (text,
	// event, dtmf, language_code, parameters, session_id).
	DetectIntent(ctx context.Context, alias, sessionID string, in Input) (Turn, error)
	// Agents reports every alias without calling upstream.
	Agents() []AgentStatus
}

// Turn sources.
const (
	// SourceDialogflow: the virtual agent (Dialogflow) answered the turn.
	SourceDialogflow = "dialogflow"
	// SourceFallback: the alias's configured hand-off answered.
	SourceFallback = "fallback"
)

// Input is one caller turn: exactly one of Text, Event and DTMF.
type Input struct {
	// Text is what the caller said or typed, at most 256 characters.
	Text string
	// Event is a Dialogflow event name, at most 128 characters.
	Event string
	// DTMF is keypad digits: 1 to 32 of 0-9, * and #.
	DTMF string
	// LanguageCode is required, e.g. "en" or "en-US".
	LanguageCode string
	// Parameters are session parameters to set (JSON values).
	Parameters map[string]any
}

// Turn is the answer to one turn.
type Turn struct {
	// Messages are the text responses, in order.
	Messages []string
	// Intent and Page are display names; empty when none matched.
	Intent, Page string
	// Parameters are the session parameters after the turn.
	Parameters map[string]any
	// Environment is the environment that handled (or, for a fallback,
	// was chosen for) the turn.
	Environment string
	// Source is SourceDialogflow or SourceFallback.
	Source string
	// LiveAgentHandoff is true when Dialogflow asked for a live agent and
	// on every fallback.
	LiveAgentHandoff bool
	// HandoffQueue is where to hand off: the "queue" string of
	// Dialogflow's hand-off metadata when present, else the alias's
	// fallback queue. Empty without a hand-off.
	HandoffQueue string
	// Degraded is true for a fallback and for a turn served by the
	// secondary environment; Reasons say why.
	Degraded bool
	Reasons  []string
}

// AgentStatus is one alias in GET /v1/dialogflow/agents and /v1/status.
// The flat fields describe the primary environment, except that
// VersionsRead and Drift cover the secondary too.
type AgentStatus struct {
	Alias       string `json:"alias"`
	Environment string `json:"environment"`
	Secondary   string `json:"secondary,omitempty"`
	// Versions are the primary's version configs seen at start-up (or at
	// the first successful read).
	Versions []string `json:"versions"`
	// VersionsRead is false while some environment of the alias has never
	// been read: holdline serves on the configured pin regardless.
	VersionsRead bool `json:"versions_read"`
	// Drift is true when some environment's version configs changed since.
	Drift bool `json:"drift"`
	// Breaker is the primary's breaker: closed, open or half-open; open
	// too when the dialogflow dependency's breaker is open or forced open.
	Breaker      string              `json:"breaker"`
	Environments []EnvironmentStatus `json:"environments"`
	// ActiveRegion is where new sessions go: primary, or secondary after
	// a failover. Running sessions stay in the region they started in.
	ActiveRegion string `json:"active_region"`
	// AutoFailover is the alias's auto_failover: holdline may switch
	// ActiveRegion by itself when the active environment's breaker opens.
	AutoFailover bool `json:"auto_failover"`
	// LastSwitch is the last change of ActiveRegion; nil if none.
	LastSwitch *RegionSwitch `json:"last_switch,omitempty"`
}

// RegionSwitch is one change of an alias's active region.
type RegionSwitch struct {
	At time.Time `json:"at"`
	// By is the operator who failed over, or "auto" for holdline's own
	// decision (auto_failover).
	By     string `json:"by"`
	Reason string `json:"reason"`
	From   string `json:"from"` // primary or secondary
	To     string `json:"to"`
}

// EnvironmentStatus is one environment of an alias.
type EnvironmentStatus struct {
	Name string `json:"name"`
	// Role is primary or secondary.
	Role     string `json:"role"`
	Endpoint string `json:"endpoint"`
	// Versions were seen first; CurrentVersions at the last read.
	Versions        []string   `json:"versions"`
	CurrentVersions []string   `json:"current_versions"`
	VersionsRead    bool       `json:"versions_read"`
	Drift           bool       `json:"drift"`
	Breaker         string     `json:"breaker"`
	CheckedAt       *time.Time `json:"checked_at,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
}
