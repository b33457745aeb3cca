package drill

import (
	"time"

	"github.com/holdline/holdline/internal/config"
)

// Operation names one kind of request in the mix.
type Operation string

// The operations a drill can send. Their tier decides which expectations
// count them (critical_success_rate counts the critical ones).
const (
	OpScreenPop  Operation = "screen_pop" // critical: POST /v1/screen-pop
	OpDialogflow Operation = "dialogflow" // critical: POST /v1/dialogflow/{agent}/sessions/{s}/detect-intent
	OpRecording  Operation = "recording"  // critical: POST /v1/interactions/{id}/recordings (after the record)
	OpCRMWrite   Operation = "crm_write"  // supporting: POST .../record, then .../comments
	OpIdentity   Operation = "identity"   // supporting: POST /v1/identity/verify
)

// Operations lists every operation in report order.
var Operations = []Operation{OpScreenPop, OpDialogflow, OpRecording, OpCRMWrite, OpIdentity}

// Tier is the service tier of op: "critical" or "supporting".
func (op Operation) Tier() string {
	switch op {
	case OpCRMWrite, OpIdentity:
		return "supporting"
	}
	return "critical"
}

// Scenario is one drill, as written in a YAML file (docs/drills.md).
type Scenario struct {
	// Name identifies the drill in reports, fault reasons and the audit log.
	Name string `yaml:"name"`
	// Description says what the drill simulates, for the report's reader.
	Description string `yaml:"description"`
	// Duration is how long the request mix is sent; timeline offsets are
	// within it.
	Duration config.Duration `yaml:"duration"`
	// Rate is the number of requests per second, sent open loop.
	Rate float64 `yaml:"rate"`
	// MaxInFlight bounds the requests waiting for an answer; a request
	// due while the bound is reached is skipped and counted (default 256).
	MaxInFlight int `yaml:"max_in_flight"`
	// RequestTimeout is how long the drill waits for one answer before
	// counting a failure (default 10s).
	RequestTimeout config.Duration `yaml:"request_timeout"`
	// Mix weighs the operations; an operation with weight 0 is not sent.
	Mix Mix `yaml:"mix"`
	// Budgets are the sidecar's latency budgets per operation, for
	// within_budget (defaults: screen_pop 300ms, dialogflow 2s, identity
	// 500ms: holdline's defaults).
	Budgets Budgets `yaml:"budgets"`
	// BudgetSlack is added to every budget for the network and the
	// drill's own scheduling (default 100ms).
	BudgetSlack config.Duration `yaml:"budget_slack"`
	// Timeline is what happens when, as offsets from the start.
	Timeline []Step `yaml:"timeline"`
	// Recovery is how long to wait, after the last fault clears, for the
	// outbox to deliver what was accepted (default 30s).
	Recovery config.Duration `yaml:"recovery"`
	// Expectations must all hold for the drill to pass.
	Expectations []Expectation `yaml:"expectations"`
}

// Mix is the relative weight of each operation.
type Mix struct {
	ScreenPop  float64 `yaml:"screen_pop"`
	CRMWrite   float64 `yaml:"crm_write"`
	Recording  float64 `yaml:"recording"`
	Dialogflow float64 `yaml:"dialogflow"`
	Identity   float64 `yaml:"identity"`
}

// Weight returns op's weight.
func (m Mix) Weight(op Operation) float64 {
	switch op {
	case OpScreenPop:
		return m.ScreenPop
	case OpCRMWrite:
		return m.CRMWrite
	case OpRecording:
		return m.Recording
	case OpDialogflow:
		return m.Dialogflow
	case OpIdentity:
		return m.Identity
	}
	return 0
}

// Budgets are latency budgets per operation; zero means the default.
type Budgets struct {
	ScreenPop  config.Duration `yaml:"screen_pop"`
	Dialogflow config.Duration `yaml:"dialogflow"`
	Identity   config.Duration `yaml:"identity"`
}

// Budget returns op's budget, or 0 when op has none (recordings stream,
// CRM writes may queue).
func (b Budgets) Budget(op Operation) time.Duration {
	switch op {
	case OpScreenPop:
		return b.ScreenPop.D()
	case OpDialogflow:
		return b.Dialogflow.D()
	case OpIdentity:
		return b.Identity.D()
	}
	return 0
}

// Step is one timeline entry: At, and exactly one action.
type Step struct {
	At          config.Duration `yaml:"at"`
	Fault       *FaultAction    `yaml:"fault"`
	ClearFaults bool            `yaml:"clear_faults"`
	Breaker     *BreakerAction  `yaml:"breaker"`
	Failover    *FailoverAction `yaml:"failover"`
}

// FaultAction injects a fault through POST /v1/admin/faults.
type FaultAction struct {
	Dependency string          `yaml:"dependency" json:"dependency"`
	Latency    config.Duration `yaml:"latency" json:"latency,omitempty"`
	ErrorRate  float64         `yaml:"error_rate" json:"error_rate,omitempty"`
	Status     int             `yaml:"status" json:"status,omitempty"`
	Reset      bool            `yaml:"reset" json:"reset,omitempty"`
	// Endpoint limits the fault to the dependency's primary or secondary
	// endpoint (empty: every call), so a drill can make only the primary
	// sick and exercise a person's failover.
	Endpoint string          `yaml:"endpoint" json:"endpoint,omitempty"`
	Duration config.Duration `yaml:"duration" json:"duration"`
}

// BreakerAction forces a breaker (PUT /v1/admin/dependencies/{name}/breaker).
type BreakerAction struct {
	Dependency string `yaml:"dependency"`
	Mode       string `yaml:"mode"` // open, closed, auto
	Reason     string `yaml:"reason"`
}

// FailoverAction moves a dependency's traffic to another endpoint
// (PUT /v1/admin/dependencies/{name}/endpoint).
type FailoverAction struct {
	Dependency string `yaml:"dependency"`
	To         string `yaml:"to"` // primary, secondary
	Reason     string `yaml:"reason"`
}

// Expectation is exactly one of its fields.
type Expectation struct {
	// CriticalSuccessRate: at least Min of the critical operations
	// (screen pops, Dialogflow turns, recordings) answered 2xx, and, with
	// WithinBudget, within budget + budget_slack.
	CriticalSuccessRate *RateExpectation `yaml:"critical_success_rate"`
	// SuccessRate is the same for one operation.
	SuccessRate *OpRateExpectation `yaml:"success_rate"`
	// BreakerOpens: Dependency's breaker opened within Within of the first
	// timeline fault on it.
	BreakerOpens *BreakerOpensExpectation `yaml:"breaker_opens"`
	// BreakerStaysClosed: Dependency's breaker never left closed.
	BreakerStaysClosed *DependencyExpectation `yaml:"breaker_stays_closed"`
	// NothingLost: every write and recording answered 2xx reached the CRM
	// (its jobs are done) by the end of recovery.
	NothingLost bool `yaml:"nothing_lost"`
	// Recovers: within Within of Dependency's last fault clearing, fresh
	// probes answered from Source (or, without Source, its breaker closed).
	Recovers *RecoversExpectation `yaml:"recovers"`
	// MaxP99: Operation's p99 latency over the run is at most Value.
	MaxP99 *MaxP99Expectation `yaml:"max_p99"`
}

// RateExpectation is a minimum success rate.
type RateExpectation struct {
	Min          float64 `yaml:"min"`
	WithinBudget bool    `yaml:"within_budget"`
}

// OpRateExpectation is a minimum success rate for one operation.
type OpRateExpectation struct {
	Operation    Operation `yaml:"operation"`
	Min          float64   `yaml:"min"`
	WithinBudget bool      `yaml:"within_budget"`
}

// BreakerOpensExpectation: a breaker opens soon after a fault.
type BreakerOpensExpectation struct {
	Dependency string          `yaml:"dependency"`
	Within     config.Duration `yaml:"within"`
}

// DependencyExpectation names a dependency.
type DependencyExpectation struct {
	Dependency string `yaml:"dependency"`
}

// RecoversExpectation: a dependency serves again soon after its faults clear.
type RecoversExpectation struct {
	Dependency string          `yaml:"dependency"`
	Source     string          `yaml:"source"`
	Within     config.Duration `yaml:"within"`
}

// MaxP99Expectation bounds one operation's p99 latency.
type MaxP99Expectation struct {
	Operation Operation       `yaml:"operation"`
	Value     config.Duration `yaml:"value"`
}

// applyDefaults fills the optional knobs.
func (s *Scenario) applyDefaults() {
	if s.MaxInFlight == 0 {
		s.MaxInFlight = 256
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = config.Duration(10 * time.Second)
	}
	if s.Budgets.ScreenPop == 0 {
		s.Budgets.ScreenPop = config.Duration(300 * time.Millisecond)
	}
	if s.Budgets.Dialogflow == 0 {
		s.Budgets.Dialogflow = config.Duration(2 * time.Second)
	}
	if s.Budgets.Identity == 0 {
		s.Budgets.Identity = config.Duration(500 * time.Millisecond)
	}
	if s.BudgetSlack == 0 {
		s.BudgetSlack = config.Duration(100 * time.Millisecond)
	}
	if s.Recovery == 0 {
		s.Recovery = config.Duration(30 * time.Second)
	}
}
