package gateway

import (
	"github.com/holdline/holdline/internal/authn"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/resilience"
)

// Services are the flows behind the data-plane operations. A nil flow is
// not configured on this sidecar; its operations answer 503.
type Services struct {
	// ScreenPop answers POST /v1/screen-pop.
	ScreenPop ScreenPopper
	// DefaultRegion reads numbers without a country code.
	DefaultRegion string
	// Faults, when drills are enabled, backs /v1/admin/faults.
	Faults *resilience.Faults
	// Audit records admin actions and serves /v1/admin/audit.
	Audit Auditor
	// Dependencies backs breaker and failover controls.
	Dependencies *resilience.Set
	// Interactions runs the interaction writes through the outbox and
	// answers GET /v1/interactions/{id}.
	Interactions Interactions
	// Outbox backs the /v1/admin/outbox operations.
	Outbox Outbox
	// Dialogflow answers detect-intent and GET /v1/dialogflow/agents.
	Dialogflow conversation.Service
	// Identity answers POST /v1/identity/verify.
	Identity authn.Verifier
	// Recordings answers POST /v1/interactions/{id}/recordings.
	Recordings Recorder
}
