package dialogflow

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/upstream"
)

// noRetry turns off the client's own retry for one call.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

var (
	sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)
	dtmfPattern      = regexp.MustCompile(`^[0-9*#]{1,32}$`)
)

// DetectIntent runs one turn of session sessionID on alias's pinned
// environment and returns Dialogflow's answer, or the alias's fallback
// when Dialogflow fails, is too slow or a breaker is open. It returns
// within the alias budget whatever Dialogflow does (and sooner if ctx
// ends first).
//
// Its only errors are *holdline.Error values: ENOTFOUND for "agent"
// wrapping ErrUnknownAgent, and EINVALID naming the field of a bad session
// ID or input; neither reaches Dialogflow. The call is never
// retried. DetectIntent is safe for concurrent use.
func (c *Client) DetectIntent(ctx context.Context, alias, sessionID string, in conversation.Input) (conversation.Turn, error) {
	a, ok := c.agents[alias]
	if !ok {
		return conversation.Turn{}, holdline.Wrap(holdline.ENOTFOUND, "agent",
			fmt.Sprintf("no Dialogflow agent has the alias %q (see GET /v1/dialogflow/agents)", alias),
			fmt.Errorf("%w: %q", ErrUnknownAgent, alias))
	}
	if !sessionIDPattern.MatchString(sessionID) {
		return conversation.Turn{}, holdline.Errorf(holdline.EINVALID, "session_id", "must be 1 to 36 letters, digits, '-' or '_'")
	}
	req, err := request(in)
	if err != nil {
		return conversation.Turn{}, err
	}

	start := c.now()
	// The budget bounds the whole turn; the margin leaves time to answer
	// the fallback when Dialogflow uses all of it.
	margin := min(a.budget/20, 50*time.Millisecond)
	tctx, cancel := context.WithTimeout(ctx, a.budget-margin)
	defer cancel()

	key := alias + "\x00" + sessionID
	e, admitted := c.route(a, key)
	var resp *cxpb.DetectIntentResponse
	if !admitted {
		err = fmt.Errorf("dialogflow: %s: %w", e.name, circuitbreaker.ErrOpen)
	} else {
		req.Session = e.name + "/sessions/" + sessionID
		called := false
		resp, err = resilience.Write(tctx, c.dep, "detect_intent", func(ctx context.Context) (*cxpb.DetectIntentResponse, error) {
			called = true
			resp, err := e.clients.sessions.DetectIntent(withRole(ctx, a.role(e)), req, noRetry)
			return resp, classify(err)
		})
		e.settle(ctx, called, err)
	}

	var t conversation.Turn
	outcome := outcomeAnswered
	if err != nil {
		why := c.reason(tctx, err)
		t = conversation.Turn{
			Messages:         []string{a.fallback.Message},
			Environment:      e.name,
			Source:           conversation.SourceFallback,
			LiveAgentHandoff: true,
			HandoffQueue:     a.fallback.Queue,
			Degraded:         true,
			Reasons:          []string{why},
		}
		outcome = outcomeFallback
		c.metrics.fallbacks.WithLabelValues(alias, strings.TrimPrefix(why, c.dep.Name()+": ")).Inc()
		c.log.Debug("dialogflow: fallback", "alias", alias, "environment", e.name, "reason", why)
	} else {
		var ended bool
		t, ended = turnFrom(resp, a, e)
		if ended {
			c.affinity.forget(key)
		} else {
			c.affinity.set(key, e.name, c.now())
		}
		if t.LiveAgentHandoff {
			outcome = outcomeHandoff
		}
	}
	c.metrics.turns.WithLabelValues(alias, e.name, outcome).Inc()
	c.metrics.duration.WithLabelValues(alias, e.name).Observe(c.now().Sub(start).Seconds())
	return t, nil
}

// request validates in and builds the request, without its session.
func request(in conversation.Input) (*cxpb.DetectIntentRequest, error) {
	qi := &cxpb.QueryInput{LanguageCode: in.LanguageCode}
	var set []string
	if in.Text != "" {
		set = append(set, "text")
		if utf8.RuneCountInString(in.Text) > 256 {
			return nil, holdline.Errorf(holdline.EINVALID, "text", "must be at most 256 characters")
		}
		qi.Input = &cxpb.QueryInput_Text{Text: &cxpb.TextInput{Text: in.Text}}
	}
	if in.Event != "" {
		set = append(set, "event")
		if utf8.RuneCountInString(in.Event) > 128 {
			return nil, holdline.Errorf(holdline.EINVALID, "event", "must be at most 128 characters")
		}
		qi.Input = &cxpb.QueryInput_Event{Event: &cxpb.EventInput{Event: in.Event}}
	}
	if in.DTMF != "" {
		set = append(set, "dtmf")
		if !dtmfPattern.MatchString(in.DTMF) {
			return nil, holdline.Errorf(holdline.EINVALID, "dtmf", "must be 1 to 32 of the keys 0-9, * and #")
		}
		qi.Input = &cxpb.QueryInput_Dtmf{Dtmf: &cxpb.DtmfInput{Digits: in.DTMF}}
	}
	switch len(set) {
	case 0:
		return nil, holdline.Errorf(holdline.EINVALID, "text", "exactly one of text, event or dtmf is required")
	case 1:
	default:
		return nil, holdline.Errorf(holdline.EINVALID, set[1], "exactly one of text, event or dtmf may be set, not %s and %s", set[0], set[1])
	}
	if n := len(in.LanguageCode); n < 2 || n > 35 {
		return nil, holdline.Errorf(holdline.EINVALID, "language_code", "is required: a language tag such as en or en-US")
	}
	req := &cxpb.DetectIntentRequest{QueryInput: qi}
	if len(in.Parameters) > 0 {
		p, err := structpb.NewStruct(in.Parameters)
		if err != nil {
			return nil, holdline.Errorf(holdline.EINVALID, "parameters", "must be an object of JSON values")
		}
		req.QueryParams = &cxpb.QueryParameters{Parameters: p}
	}
	return req, nil
}

// turnFrom maps Dialogflow's answer. ended reports that the session is
// over: the turn reached END_SESSION or sent an EndInteraction.
func turnFrom(resp *cxpb.DetectIntentResponse, a *agent, e *environment) (t conversation.Turn, ended bool) {
	qr := resp.GetQueryResult()
	t = conversation.Turn{
		Messages:    []string{},
		Environment: e.name,
		Source:      conversation.SourceDialogflow,
		Reasons:     []string{},
		Page:        qr.GetCurrentPage().GetDisplayName(),
		Intent:      qr.GetIntent().GetDisplayName(),
	}
	if t.Intent == "" {
		t.Intent = qr.GetMatch().GetIntent().GetDisplayName()
	}
	if p := qr.GetParameters(); p != nil && len(p.GetFields()) > 0 {
		t.Parameters = p.AsMap()
	}
	for _, m := range qr.GetResponseMessages() {
		switch x := m.GetMessage().(type) {
		case *cxpb.ResponseMessage_Text_:
			t.Messages = append(t.Messages, x.Text.GetText()...)
		case *cxpb.ResponseMessage_LiveAgentHandoff_:
			t.LiveAgentHandoff = true
			if q, ok := x.LiveAgentHandoff.GetMetadata().GetFields()["queue"]; ok && q.GetStringValue() != "" {
				t.HandoffQueue = q.GetStringValue()
			}
		case *cxpb.ResponseMessage_EndInteraction_:
			ended = true
		}
	}
	if t.LiveAgentHandoff && t.HandoffQueue == "" {
		t.HandoffQueue = a.fallback.Queue
	}
	if strings.HasSuffix(qr.GetCurrentPage().GetName(), "/pages/END_SESSION") {
		ended = true
	}
	if e == a.secondary {
		t.Degraded = true
		t.Reasons = append(t.Reasons, "dialogflow: served by the secondary environment")
	}
	return t, ended
}

// reason says why a turn fell back, safe to show to clients. The policy
// chain has already told a policy timeout from the budget running out (by
// their deadlines, not by which timer fired first), so err decides; only an
// error the chain could not classify falls back to the turn's context
// (tctx) and then to the gRPC code.
func (c *Client) reason(tctx context.Context, err error) string {
	dep := c.dep.Name()
	if st, ok := status.FromError(err); ok && upstream.IsPermanent(err) {
		return dep + ": " + words(st.Code().String())
	}
	why := resilience.Reason(dep, err)
	if why != dep+": error" {
		return why
	}
	if tctx.Err() != nil {
		return resilience.Reason(dep, tctx.Err())
	}
	if st, ok := status.FromError(err); ok {
		return dep + ": " + words(st.Code().String())
	}
	return why
}

// words turns a gRPC code name (DeadlineExceeded) into "deadline exceeded".
func words(camel string) string {
	var b strings.Builder
	for i, r := range camel {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte(' ')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
