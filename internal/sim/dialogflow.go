package sim

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"

	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// DialogflowMode is a fault mode of the Dialogflow simulator.
type DialogflowMode string

const (
	// DialogflowOK answers every call (the default).
	DialogflowOK DialogflowMode = "ok"
	// DialogflowHang never answers: the call blocks until the client
	// gives up (its deadline or cancellation) or the simulator stops.
	DialogflowHang DialogflowMode = "hang"
	// DialogflowUnavailable fails every call with codes.Unavailable, as a
	// region in trouble does.
	DialogflowUnavailable DialogflowMode = "unavailable"
)

// DialogflowDefaultFlow is the flow whose version GetEnvironment reports
// for an environment with no versions set by SetVersions.
const DialogflowDefaultFlow = "00000000-0000-0000-0000-000000000000"

// sessionPath is projects/P/locations/L/agents/A[/environments/E]/sessions/S.
// languageTag is the shape of a language code the simulated agent takes
// (en, en-US, pt-BR, zh-Hant-TW); anything else is INVALID_ARGUMENT, as
// Dialogflow answers a language the agent does not support.
var languageTag = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

var sessionPath = regexp.MustCompile(`^(projects/[^/]+/locations/[^/]+/agents/[^/]+)(/environments/[^/]+)?/sessions/[^/]+$`)

// Dialogflow is an in-process Dialogflow CX: a gRPC server on a loopback
// address implementing the Sessions service (DetectIntent) and the
// Environments service (GetEnvironment), so that holdline's real
// cloud.google.com/go/dialogflow/cx/apiv3 client is exercised. Dev mode
// points every agent alias, whatever its region, at one simulator.
//
// DetectIntent answers a few canned intents from the text, event or DTMF
// input:
//
//   - "hello", "hi" or the event "welcome": intent greeting;
//   - "agent" or "representative": intent live_agent with a
//     LiveAgentHandoff message whose metadata names the queue "sim-live";
//   - "balance": intent check_balance with the parameters balance (42.5)
//     and currency ("USD");
//   - "bye" or "goodbye": intent goodbye, an EndInteraction message and the
//     END_SESSION page;
//   - DTMF digits: intent dtmf with the parameter digits;
//   - anything else: no match.
//
// Parameters sent with the query are echoed back among the result's
// parameters. Every session path received is recorded in arrival order
// (Sessions), so tests can check on the server side which environment a
// turn ran on.
//
// A Dialogflow is safe for concurrent use.
type Dialogflow struct {
	lis  net.Listener
	srv  *grpc.Server
	done chan struct{} // closed by Stop
	wg   sync.WaitGroup
	stop sync.Once

	mu       sync.Mutex
	mode     DialogflowMode
	envModes map[string]DialogflowMode // by environment name
	control  DialogflowMode            // the Environments service
	versions map[string][]string       // by environment name
	sessions []string                  // the last dfMaxRecorded session paths
	gets     []string                  // the last dfMaxRecorded environment names
	turns    int                       // DetectIntent calls received
	metadata []DialogflowMetadata      // the last dfMaxRecorded turns' correlation metadata
}

// dfMaxRecorded bounds what the simulator remembers, so a long dev-mode
// run does not grow without limit.
const dfMaxRecorded = 10_000

func dfRecord(s []string, v string) []string {
	if len(s) >= dfMaxRecorded {
		s = slices.Delete(s, 0, len(s)-dfMaxRecorded+1)
	}
	return append(s, v)
}

// StartDialogflow listens on addr ("" means 127.0.0.1:0) and serves the
// simulator until Stop. The listener is open when it returns, so Addr is
// dialable at once.
func StartDialogflow(addr string) (*Dialogflow, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: dialogflow: %w", err)
	}
	d := &Dialogflow{
		lis:      lis,
		srv:      grpc.NewServer(),
		done:     make(chan struct{}),
		mode:     DialogflowOK,
		control:  DialogflowOK,
		envModes: map[string]DialogflowMode{},
		versions: map[string][]string{},
	}
	cxpb.RegisterSessionsServer(d.srv, &dfSessions{d: d})
	cxpb.RegisterEnvironmentsServer(d.srv, &dfEnvironments{d: d})
	d.wg.Go(func() { _ = d.srv.Serve(lis) })
	return d, nil
}

// Addr returns the host:port the simulator listens on.
func (d *Dialogflow) Addr() string { return d.lis.Addr().String() }

// ClientOptions are the client options that reach the simulator from the
// official client: no authentication and plaintext gRPC. Combine them with
// option.WithEndpoint(d.Addr()).
func (d *Dialogflow) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Stop closes the listener and every connection, failing calls in flight
// (hung ones included), and waits for the server to exit. Afterwards
// clients get codes.Unavailable (connection refused). Stop is idempotent.
func (d *Dialogflow) Stop() {
	d.stop.Do(func() {
		close(d.done)
		d.srv.Stop()
		d.wg.Wait()
	})
}

// SetMode sets the fault mode of DetectIntent for every environment
// without a mode of its own. An unknown mode is an error.
func (d *Dialogflow) SetMode(m DialogflowMode) error {
	if err := checkDialogflowMode(m); err != nil {
		return err
	}
	d.mu.Lock()
	d.mode = m
	d.mu.Unlock()
	return nil
}

// SetEnvironmentMode sets the fault mode of DetectIntent for sessions
// under one environment (its full resource name), to fail one region while
// another answers. The empty mode removes the override.
func (d *Dialogflow) SetEnvironmentMode(env string, m DialogflowMode) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m == "" {
		delete(d.envModes, env)
		return nil
	}
	if err := checkDialogflowMode(m); err != nil {
		return err
	}
	d.envModes[env] = m
	return nil
}

// SetControlMode sets the fault mode of the Environments service (the
// control plane), independently of DetectIntent.
func (d *Dialogflow) SetControlMode(m DialogflowMode) error {
	if err := checkDialogflowMode(m); err != nil {
		return err
	}
	d.mu.Lock()
	d.control = m
	d.mu.Unlock()
	return nil
}

func checkDialogflowMode(m DialogflowMode) error {
	switch m {
	case DialogflowOK, DialogflowHang, DialogflowUnavailable:
		return nil
	}
	return fmt.Errorf("sim: dialogflow: unknown mode %q (ok, hang, unavailable)", m)
}

// SetVersions sets the version configs that GetEnvironment reports for
// env (its full resource name); changing them simulates a deployment, the
// drift holdline reports. Environments never set report one version of
// DialogflowDefaultFlow.
func (d *Dialogflow) SetVersions(env string, versions []string) {
	d.mu.Lock()
	d.versions[env] = slices.Clone(versions)
	d.mu.Unlock()
}

// Sessions returns the session paths DetectIntent received, in arrival
// order, including those of calls that were then faulted: the last 10,000.
func (d *Dialogflow) Sessions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sessions)
}

// EnvironmentReads returns the environment names GetEnvironment received,
// in arrival order: the last 10,000.
func (d *Dialogflow) EnvironmentReads() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.gets)
}

// fault applies mode m to a call: it returns nil for ok, blocks for hang,
// and returns the status error for unavailable.
func (d *Dialogflow) fault(ctx context.Context, m DialogflowMode) error {
	switch m {
	case DialogflowHang:
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-d.done:
			return status.Error(codes.Unavailable, "simulator stopped")
		}
	case DialogflowUnavailable:
		return status.Error(codes.Unavailable, "simulated outage")
	}
	return nil
}

type dfEnvironments struct {
	cxpb.UnimplementedEnvironmentsServer
	d *Dialogflow
}

func (s *dfEnvironments) GetEnvironment(ctx context.Context, req *cxpb.GetEnvironmentRequest) (*cxpb.Environment, error) {
	d := s.d
	name := req.GetName()
	d.mu.Lock()
	d.gets = dfRecord(d.gets, name)
	m := d.control
	versions, ok := d.versions[name]
	d.mu.Unlock()
	if err := d.fault(ctx, m); err != nil {
		return nil, err
	}
	agent, env, found := strings.Cut(name, "/environments/")
	if !found || env == "" || strings.Contains(env, "/") {
		return nil, status.Errorf(codes.InvalidArgument, "%q is not an environment name", name)
	}
	if !ok {
		versions = []string{agent + "/flows/" + DialogflowDefaultFlow + "/versions/1"}
	}
	out := &cxpb.Environment{Name: name, DisplayName: env}
	for _, v := range versions {
		out.VersionConfigs = append(out.VersionConfigs, &cxpb.Environment_VersionConfig{Version: v})
	}
	return out, nil
}

type dfSessions struct {
	cxpb.UnimplementedSessionsServer
	d *Dialogflow
}

func (s *dfSessions) DetectIntent(ctx context.Context, req *cxpb.DetectIntentRequest) (*cxpb.DetectIntentResponse, error) {
	d := s.d
	session := req.GetSession()
	m := sessionPath.FindStringSubmatch(session)
	env := ""
	if m != nil && m[2] != "" {
		env = m[1] + m[2]
	}
	d.mu.Lock()
	d.sessions = dfRecord(d.sessions, session)
	d.metadata = dfRecordMetadata(d.metadata, ctx)
	d.turns++
	id := d.turns
	mode, ok := d.envModes[env]
	if !ok {
		mode = d.mode
	}
	d.mu.Unlock()
	if err := d.fault(ctx, mode); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, status.Errorf(codes.InvalidArgument, "%q is not a session name", session)
	}
	in := req.GetQueryInput()
	if in == nil || in.GetLanguageCode() == "" {
		return nil, status.Error(codes.InvalidArgument, "query_input.language_code is required")
	}
	if !languageTag.MatchString(in.GetLanguageCode()) {
		return nil, status.Errorf(codes.InvalidArgument, "language code %q is not supported", in.GetLanguageCode())
	}
	res, err := dfAnswer(m[1], in)
	if err != nil {
		return nil, err
	}
	res.LanguageCode = in.GetLanguageCode()
	if p := req.GetQueryParams().GetParameters(); p != nil {
		if res.Parameters == nil {
			res.Parameters = p
		} else {
			for k, v := range p.GetFields() {
				if _, taken := res.Parameters.Fields[k]; !taken {
					res.Parameters.Fields[k] = v
				}
			}
		}
	}
	return &cxpb.DetectIntentResponse{ResponseId: fmt.Sprintf("sim-%d", id), QueryResult: res}, nil
}

// dfAnswer picks the canned answer for one query under agent.
func dfAnswer(agent string, in *cxpb.QueryInput) (*cxpb.QueryResult, error) {
	res := &cxpb.QueryResult{CurrentPage: &cxpb.Page{Name: agent + "/flows/" + DialogflowDefaultFlow + "/pages/START_PAGE", DisplayName: "Start Page"}}
	var key string
	switch q := in.GetInput().(type) {
	case *cxpb.QueryInput_Text:
		res.Query = &cxpb.QueryResult_Text{Text: q.Text.GetText()}
		key = strings.ToLower(q.Text.GetText())
	case *cxpb.QueryInput_Event:
		res.Query = &cxpb.QueryResult_TriggerEvent{TriggerEvent: q.Event.GetEvent()}
		key = strings.ToLower(q.Event.GetEvent())
	case *cxpb.QueryInput_Dtmf:
		digits := q.Dtmf.GetDigits()
		res.Query = &cxpb.QueryResult_Text{Text: digits}
		return dfMatch(res, agent, "dtmf", dfParams(map[string]any{"digits": digits}), dfText("You pressed "+digits+".")), nil
	default:
		return nil, status.Error(codes.InvalidArgument, "query_input needs text, event or dtmf")
	}
	words := strings.FieldsFunc(key, func(r rune) bool { return !('a' <= r && r <= 'z') })
	has := func(ws ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(ws, w) })
	}
	switch {
	case has("agent", "representative", "human"):
		meta := dfParams(map[string]any{"queue": "sim-live"})
		return dfMatch(res, agent, "live_agent", nil, dfText("Connecting you to an agent."),
			&cxpb.ResponseMessage{Message: &cxpb.ResponseMessage_LiveAgentHandoff_{LiveAgentHandoff: &cxpb.ResponseMessage_LiveAgentHandoff{Metadata: meta}}}), nil
	case has("balance"):
		return dfMatch(res, agent, "check_balance", dfParams(map[string]any{"balance": 42.5, "currency": "USD"}), dfText("Your balance is 42.50 USD.")), nil
	case has("bye", "goodbye"):
		res.CurrentPage = &cxpb.Page{Name: agent + "/flows/" + DialogflowDefaultFlow + "/pages/END_SESSION", DisplayName: "End Session"}
		return dfMatch(res, agent, "goodbye", nil, dfText("Goodbye."),
			&cxpb.ResponseMessage{Message: &cxpb.ResponseMessage_EndInteraction_{EndInteraction: &cxpb.ResponseMessage_EndInteraction{}}}), nil
	case has("hello", "hi", "welcome"):
		return dfMatch(res, agent, "greeting", nil, dfText("Hello! How can I help you today?")), nil
	}
	res.Match = &cxpb.Match{MatchType: cxpb.Match_NO_MATCH}
	res.ResponseMessages = []*cxpb.ResponseMessage{dfText("Sorry, I didn't get that. Could you say it another way?")}
	return res, nil
}

func dfMatch(res *cxpb.QueryResult, agent, intent string, params *structpb.Struct, msgs ...*cxpb.ResponseMessage) *cxpb.QueryResult {
	in := &cxpb.Intent{Name: agent + "/intents/" + intent, DisplayName: intent}
	res.Intent = in
	res.IntentDetectionConfidence = 1
	res.Match = &cxpb.Match{Intent: in, MatchType: cxpb.Match_INTENT, Confidence: 1}
	res.Parameters = params
	res.ResponseMessages = msgs
	return res
}

func dfText(s string) *cxpb.ResponseMessage {
	return &cxpb.ResponseMessage{Message: &cxpb.ResponseMessage_Text_{Text: &cxpb.ResponseMessage_Text{Text: []string{s}}}}
}

// dfParams converts canned parameters, constants that structpb accepts.
func dfParams(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic("sim: dialogflow: canned parameters: " + err.Error())
	}
	return s
}
