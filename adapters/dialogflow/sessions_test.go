package dialogflow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
)

func TestDialogflowTurnRunsUnderPinnedEnvironment(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{})

	got := f.turn(t, "call-1", "hello there")
	want := conversation.Turn{
		Messages:    []string{"Hello! How can I help you today?"},
		Intent:      "greeting",
		Page:        "Start Page",
		Environment: primaryEnv,
		Source:      conversation.SourceDialogflow,
		Reasons:     []string{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DetectIntent(hello) mismatch (-want +got):\n%s", diff)
	}
	// What Dialogflow received, not what the client meant to send.
	if diff := cmp.Diff(sessionsUnder(primaryEnv, "call-1"), df.Sessions()); diff != "" {
		t.Errorf("session paths received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"us-central1"}, f.endpointsAsked()); diff != "" {
		t.Errorf("endpoint locations asked (-want +got):\n%s", diff)
	}
}

func TestDialogflowParametersRoundTrip(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{})
	got, err := f.c.DetectIntent(t.Context(), "support", "call-1", conversation.Input{
		Text: "what is my balance", LanguageCode: "en-US", Parameters: map[string]any{"account": "A-17"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"balance": 42.5, "currency": "USD", "account": "A-17"}
	if diff := cmp.Diff(want, got.Parameters); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	if got.Intent != "check_balance" {
		t.Errorf("intent = %q, want check_balance", got.Intent)
	}
}

func TestDialogflowEventAndDTMF(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{})
	ev, err := f.c.DetectIntent(t.Context(), "support", "call-1", conversation.Input{Event: "welcome", LanguageCode: "en"})
	if err != nil || ev.Intent != "greeting" {
		t.Errorf("DetectIntent(event welcome) = %+v, %v; want intent greeting", ev, err)
	}
	dt, err := f.c.DetectIntent(t.Context(), "support", "call-1", conversation.Input{DTMF: "12#", LanguageCode: "en"})
	if err != nil || dt.Intent != "dtmf" || dt.Parameters["digits"] != "12#" {
		t.Errorf("DetectIntent(dtmf 12#) = %+v, %v; want intent dtmf with digits 12#", dt, err)
	}
}

func TestDialogflowLiveAgentHandoffFromDialogflow(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{})
	got := f.turn(t, "call-1", "I want a representative")
	want := conversation.Turn{
		Messages:         []string{"Connecting you to an agent."},
		Intent:           "live_agent",
		Page:             "Start Page",
		Environment:      primaryEnv,
		Source:           conversation.SourceDialogflow,
		LiveAgentHandoff: true,
		HandoffQueue:     "sim-live", // from the hand-off metadata
		Reasons:          []string{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DetectIntent(representative) mismatch (-want +got):\n%s", diff)
	}
	if n := f.count(t, "holdline_dialogflow_turns_total", "outcome", "handoff"); n != 1 {
		t.Errorf("turns_total{outcome=handoff} = %v, want 1", n)
	}
}

func TestDialogflowInputErrors(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{})
	tests := []struct {
		name    string
		session string
		in      conversation.Input
		field   string
	}{
		{"no input", "s1", conversation.Input{LanguageCode: "en"}, "text"},
		{"text and event", "s1", conversation.Input{Text: "hi", Event: "welcome", LanguageCode: "en"}, "event"},
		{"event and dtmf", "s1", conversation.Input{Event: "welcome", DTMF: "1", LanguageCode: "en"}, "dtmf"},
		{"bad dtmf", "s1", conversation.Input{DTMF: "12a", LanguageCode: "en"}, "dtmf"},
		{"long text", "s1", conversation.Input{Text: strings.Repeat("x", 257), LanguageCode: "en"}, "text"},
		{"no language", "s1", conversation.Input{Text: "hi"}, "language_code"},
		{"session too long", strings.Repeat("s", 37), conversation.Input{Text: "hi", LanguageCode: "en"}, "session_id"},
		{"session with slash", "a/b", conversation.Input{Text: "hi", LanguageCode: "en"}, "session_id"},
		{"parameters not JSON", "s1", conversation.Input{Text: "hi", LanguageCode: "en", Parameters: map[string]any{"c": make(chan int)}}, "parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.c.DetectIntent(t.Context(), "support", tt.session, tt.in)
			if holdline.ErrorCode(err) != holdline.EINVALID || holdline.ErrorField(err) != tt.field {
				t.Errorf("DetectIntent(%+v) = %v, want an invalid error for %q", tt.in, err, tt.field)
			}
		})
	}
	if _, err := f.c.DetectIntent(t.Context(), "billing", "s1", conversation.Input{Text: "hi", LanguageCode: "en"}); !errors.Is(err, dialogflow.ErrUnknownAgent) ||
		holdline.ErrorCode(err) != holdline.ENOTFOUND || holdline.ErrorField(err) != "agent" {
		t.Errorf("DetectIntent(unknown alias) = %v, want not_found for agent wrapping ErrUnknownAgent", err)
	}
	if got := df.Sessions(); len(got) != 0 {
		t.Errorf("bad input reached Dialogflow: %v", got)
	}
}

func TestDialogflowDraftRefused(t *testing.T) {
	drafts := []string{
		"projects/acme/locations/global/agents/a1/environments/-",
		"projects/acme/locations/global/agents/a1/environments/draft",
		"projects/acme/locations/global/agents/a1",
		"projects/acme/locations/global/agents/a1/sessions/s1",
		"",
	}
	dep := newDep(t, nil)
	for _, env := range drafts {
		t.Run("construction "+env, func(t *testing.T) {
			cfg := config.Dialogflow{Agents: map[string]config.DialogflowAgent{
				"support": {Environment: env, Budget: config.Duration(time.Second)},
				"billing": {Environment: primaryEnv, Secondary: env, Budget: config.Duration(time.Second)},
			}}
			_, err := dialogflow.New(t.Context(), cfg, dep, dialogflow.Options{})
			want := []string{"dialogflow.agents.billing.secondary", "dialogflow.agents.support.environment"}
			if env == "" {
				want = want[1:] // an empty secondary means no failover
			}
			if diff := cmp.Diff(want, problemPaths(err)); diff != "" {
				t.Errorf("New(%q) problems (-want +got):\n%s\nerr: %v", env, diff, err)
			}
		})
	}
	// And `holdline config validate`, which reads the same file.
	yaml := "dialogflow:\n  agents:\n    support:\n      environment: " + drafts[0] + "\n"
	if _, err := config.Parse([]byte(yaml), func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "dialogflow.agents.support.environment") {
		t.Errorf("config.Parse(draft) = %v, want a problem at dialogflow.agents.support.environment", err)
	}
}

// TestDialogflowFallbackWithinBudget: whatever Dialogflow does, the caller
// gets the alias's hand-off within the alias budget.
func TestDialogflowFallbackWithinBudget(t *testing.T) {
	const budget = time.Second
	tests := []struct {
		name    string
		timeout time.Duration // the dependency's policy timeout
		fault   func(df *sim.Dialogflow)
		reason  string
	}{
		{"hang past the budget", 10 * time.Second, func(df *sim.Dialogflow) { df.SetMode(sim.DialogflowHang) }, "dialogflow: budget exhausted"},
		{"hang past the policy timeout", 200 * time.Millisecond, func(df *sim.Dialogflow) { df.SetMode(sim.DialogflowHang) }, "dialogflow: timeout"},
		{"unavailable", 10 * time.Second, func(df *sim.Dialogflow) { df.SetMode(sim.DialogflowUnavailable) }, "dialogflow: unavailable"},
		{"stopped", 10 * time.Second, func(df *sim.Dialogflow) { df.Stop() }, "dialogflow: unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			df := startSim(t)
			f := newFixture(t, df, setup{
				agents: support("", budget),
				policy: func(p *config.Policy) { p.Timeout = config.Duration(tt.timeout) },
			})
			tt.fault(df)
			start := time.Now()
			got := f.turn(t, "call-1", "hello")
			elapsed := time.Since(start)
			want := conversation.Turn{
				Messages:         []string{fallbackMsg},
				Environment:      primaryEnv,
				Source:           conversation.SourceFallback,
				LiveAgentHandoff: true,
				HandoffQueue:     fallbackQ,
				Degraded:         true,
				Reasons:          []string{tt.reason},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("DetectIntent mismatch (-want +got):\n%s", diff)
			}
			// The budget itself is measured by the bench harness (wobble
			// runs); here a generous guard only catches a turn that waited
			// for the hang instead of for its deadlines.
			if elapsed >= 10*budget {
				t.Errorf("DetectIntent took %v, want it bounded by the %v budget, not by the hang", elapsed, budget)
			}
			if n := f.count(t, "holdline_dialogflow_turns_total", "outcome", "fallback"); n != 1 {
				t.Errorf("turns_total{outcome=fallback} = %v, want 1", n)
			}
		})
	}
}

func TestDialogflowBreakerForcedOpenFallsBackWithoutCalling(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{})
	if err := f.dep.SetBreakerMode(resilience.BreakerOpen, "oncall", "drill"); err != nil {
		t.Fatal(err)
	}
	got := f.turn(t, "call-1", "hello")
	if got.Source != conversation.SourceFallback || !cmp.Equal(got.Reasons, []string{"dialogflow: circuit open"}) {
		t.Errorf("DetectIntent with the breaker forced open = %+v, want a fallback for circuit open", got)
	}
	if s := df.Sessions(); len(s) != 0 {
		t.Errorf("Dialogflow was called with the breaker open: %v", s)
	}
	if st := f.c.Agents()[0].Breaker; st != "open" {
		t.Errorf("Agents()[0].Breaker = %q, want open", st)
	}
}

func TestDialogflowInjectedFaultsActBeneathPolicies(t *testing.T) {
	df := startSim(t)
	cfg := config.Default()
	faults := resilience.NewFaults(nil)
	set, err := resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialogflow.New(t.Context(), config.Dialogflow{Agents: support("", 2*time.Second)}, set.Get("dialogflow"), dialogflow.Options{
		Endpoint:      func(string) string { return df.Addr() },
		ClientOptions: df.ClientOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := faults.Add(resilience.Fault{Dependency: "dialogflow", ErrorRate: 1, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.DetectIntent(t.Context(), "support", "call-1", conversation.Input{Text: "hello", LanguageCode: "en"})
	if err != nil || !cmp.Equal(got.Reasons, []string{"dialogflow: injected fault"}) {
		t.Errorf("DetectIntent under a drill = %+v, %v; want a fallback for the injected fault", got, err)
	}
	if st := set.Get("dialogflow").Status(); st.Failures1m != 1 {
		t.Errorf("dependency failures_1m = %d, want 1 (the fault counts like a real failure)", st.Failures1m)
	}
}

// BenchmarkDialogflowTurn is one turn through the policy chain, the real
// client and the loopback simulator.
func BenchmarkDialogflowTurn(b *testing.B) {
	df := startSim(b)
	f := newFixture(b, df, setup{})
	in := conversation.Input{Text: "hello", LanguageCode: "en"}
	for b.Loop() {
		if _, err := f.c.DetectIntent(b.Context(), "support", "bench", in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDialogflowFallbackBreakerOpen is a turn answered by the
// fallback without calling Dialogflow.
func BenchmarkDialogflowFallbackBreakerOpen(b *testing.B) {
	df := startSim(b)
	f := newFixture(b, df, setup{})
	if err := f.dep.SetBreakerMode(resilience.BreakerOpen, "bench", "bench"); err != nil {
		b.Fatal(err)
	}
	in := conversation.Input{Text: "hello", LanguageCode: "en"}
	for b.Loop() {
		if _, err := f.c.DetectIntent(b.Context(), "support", "bench", in); err != nil {
			b.Fatal(err)
		}
	}
}
