package gateway

import (
	"context"

	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/internal/conversation"
)

// DetectIntent runs one turn. Bad input is a 400 naming the field and an
// unknown alias a 404; neither reaches Dialogflow. Dialogflow's own
// trouble is never an error here: the answer is the fallback hand-off.
func (s *Server) DetectIntent(ctx context.Context, req api.DetectIntentRequestObject) (api.DetectIntentResponseObject, error) {
	svc := s.opts.Services.Dialogflow
	if svc == nil {
		return nil, notConfigured("dialogflow")
	}
	if req.Body == nil {
		return nil, invalidBody()
	}
	b := req.Body
	in := conversation.Input{LanguageCode: b.LanguageCode, Text: dfDeref(b.Text), Event: dfDeref(b.Event), DTMF: dfDeref(b.Dtmf)}
	if b.Parameters != nil {
		in.Parameters = *b.Parameters
	}
	t, err := svc.DetectIntent(ctx, req.Agent, req.SessionId, in)
	if err != nil {
		return nil, err
	}
	out := api.DetectIntent200JSONResponse{
		Messages:         dfStrings(t.Messages),
		Environment:      t.Environment,
		Source:           api.DetectIntentSource(t.Source),
		LiveAgentHandoff: t.LiveAgentHandoff,
		Degraded:         t.Degraded,
		Reasons:          dfStrings(t.Reasons),
		Intent:           dfOptional(t.Intent),
		Page:             dfOptional(t.Page),
		HandoffQueue:     dfOptional(t.HandoffQueue),
	}
	if t.Parameters != nil {
		out.Parameters = &t.Parameters
	}
	return out, nil
}

// ListDialogflowAgents lists the aliases, their pinned environments, the
// versions seen, drift and breaker state. It calls nothing upstream.
func (s *Server) ListDialogflowAgents(ctx context.Context, req api.ListDialogflowAgentsRequestObject) (api.ListDialogflowAgentsResponseObject, error) {
	svc := s.opts.Services.Dialogflow
	if svc == nil {
		return nil, notConfigured("dialogflow")
	}
	agents := svc.Agents()
	out := api.ListDialogflowAgents200JSONResponse{Agents: make([]dialogflowAgentRow, 0, len(agents))}
	for _, a := range agents {
		versions, drift, read := dfStrings(a.Versions), a.Drift, a.VersionsRead
		out.Agents = append(out.Agents, dialogflowAgentRow{
			Alias:        a.Alias,
			Environment:  a.Environment,
			Secondary:    dfOptional(a.Secondary),
			Breaker:      dfOptional(a.Breaker),
			Versions:     &versions,
			VersionsRead: &read,
			Drift:        &drift,
		})
	}
	return out, nil
}

// dialogflowAgentRow is the generated (anonymous) element type of
// api.DialogflowAgents.Agents.
type dialogflowAgentRow = struct {
	Alias        string    `json:"alias"`
	Breaker      *string   `json:"breaker,omitempty"`
	Drift        *bool     `json:"drift,omitempty"`
	Environment  string    `json:"environment"`
	Secondary    *string   `json:"secondary,omitempty"`
	Versions     *[]string `json:"versions,omitempty"`
	VersionsRead *bool     `json:"versions_read,omitempty"`
}

func dfDeref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// dfOptional is nil for "", so that empty strings are left out.
func dfOptional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func dfStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
