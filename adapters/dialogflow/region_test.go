package dialogflow_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
)

// quickBreaker gives each environment a breaker that opens on its first
// failure (a quarter of min_requests 4) and stays open for openFor.
func quickBreaker(openFor time.Duration) func(*dialogflow.Options) {
	return func(o *dialogflow.Options) {
		o.Breaker = config.Breaker{FailureRate: 0.5, MinRequests: 4, Window: config.Duration(10 * time.Second),
			OpenFor: config.Duration(openFor), HalfOpenProbes: 1}
	}
}

// twoRegions is the "support" alias with a secondary in another region.
func twoRegions(auto bool) map[string]config.DialogflowAgent {
	a := support(secondaryEnv, 2*time.Second)
	ag := a["support"]
	ag.AutoFailover = auto
	a["support"] = ag
	return a
}

// step runs one turn and checks where it was served and by whom.
func (f *fixture) step(t *testing.T, session, text, wantEnv, wantSource string) conversation.Turn {
	t.Helper()
	got := f.turn(t, session, text)
	if got.Environment != wantEnv || got.Source != wantSource {
		t.Errorf("turn %q on session %s: environment %s source %s (reasons %v), want %s from %s",
			text, session, got.Environment, got.Source, got.Reasons, wantEnv, wantSource)
	}
	if wantSource == conversation.SourceFallback && (!got.LiveAgentHandoff || got.HandoffQueue != fallbackQ) {
		t.Errorf("fallback turn on session %s: hand-off %v queue %q, want the live-agent hand-off to %s",
			session, got.LiveAgentHandoff, got.HandoffQueue, fallbackQ)
	}
	return got
}

// region returns the alias's active region and last switch.
func (f *fixture) region(t *testing.T) (string, *conversation.RegionSwitch) {
	t.Helper()
	a := f.c.Agents()[0]
	return a.ActiveRegion, a.LastSwitch
}

// TestDialogflowSessionKeepsItsRegionAfterFailover: after `holdline
// failover dialogflow --to secondary` (SetActiveEndpoint, what the admin
// API calls), a session started in the primary keeps getting its answers
// from the primary, new sessions go to the secondary, and failing back
// does not move the sessions started in the secondary.
func TestDialogflowSessionKeepsItsRegionAfterFailover(t *testing.T) {
	df := startSim(t)
	t0 := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	f := newFixture(t, df, setup{agents: twoRegions(false), options: func(o *dialogflow.Options) {
		o.Now = func() time.Time { return t0 }
	}})
	if !f.dep.HasSecondary() {
		t.Fatal("HasSecondary() = false for an alias with a secondary environment")
	}

	f.step(t, "old", "hello", primaryEnv, conversation.SourceDialogflow)
	if err := f.dep.SetActiveEndpoint("secondary", "oncall", "us-central1 incident"); err != nil {
		t.Fatalf("SetActiveEndpoint(secondary) = %v", err)
	}
	active, last := f.region(t)
	wantSwitch := &conversation.RegionSwitch{At: t0, By: "oncall", Reason: "us-central1 incident", From: "primary", To: "secondary"}
	if active != "secondary" || !cmp.Equal(last, wantSwitch) {
		t.Errorf("after the failover: active_region %s, last_switch %+v; want secondary, %+v", active, last, wantSwitch)
	}
	if st := f.dep.Status(); st.ActiveEndpoint != "secondary" || st.EndpointOverride == nil || st.EndpointOverride.Actor != "oncall" {
		t.Errorf("dependency status after the failover: active %s, override %+v", st.ActiveEndpoint, st.EndpointOverride)
	}

	old := f.step(t, "old", "what is my balance", primaryEnv, conversation.SourceDialogflow)
	if old.Degraded || old.Intent != "check_balance" {
		t.Errorf("the running session's turn after the failover = %+v, want an undegraded check_balance", old)
	}
	f.step(t, "new", "hello", secondaryEnv, conversation.SourceDialogflow)

	if err := f.dep.SetActiveEndpoint("primary", "oncall", "us-central1 recovered"); err != nil {
		t.Fatalf("SetActiveEndpoint(primary) = %v", err)
	}
	f.step(t, "new", "what is my balance", secondaryEnv, conversation.SourceDialogflow) // stays where it started
	f.step(t, "fresh", "hello", primaryEnv, conversation.SourceDialogflow)
	f.step(t, "old", "hello", primaryEnv, conversation.SourceDialogflow)

	want := append(sessionsUnder(primaryEnv, "old", "old"), sessionsUnder(secondaryEnv, "new", "new")...)
	want = append(want, sessionsUnder(primaryEnv, "fresh", "old")...)
	if diff := cmp.Diff(want, df.Sessions()); diff != "" {
		t.Errorf("session paths received (-want +got):\n%s", diff)
	}
}

// TestDialogflowWithoutAutoFailoverNothingSwitches: with auto_failover
// off (the default) and the primary region down, holdline never sends a
// turn to the secondary by itself: callers get the live-agent hand-off.
func TestDialogflowWithoutAutoFailoverNothingSwitches(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{agents: twoRegions(false), options: quickBreaker(time.Minute)})
	df.SetEnvironmentMode(primaryEnv, sim.DialogflowUnavailable)

	f.step(t, "a", "hello", primaryEnv, conversation.SourceFallback) // the region fails: its breaker opens
	if p := f.c.Agents()[0].Environments[0].Breaker; p != "open" {
		t.Fatalf("primary breaker after the failure = %s, want open", p)
	}
	got := f.step(t, "b", "hello", primaryEnv, conversation.SourceFallback)
	if !cmp.Equal(got.Reasons, []string{"dialogflow: circuit open"}) {
		t.Errorf("new session with the primary's breaker open: reasons %v, want circuit open", got.Reasons)
	}
	f.step(t, "a", "hello", primaryEnv, conversation.SourceFallback)

	if active, last := f.region(t); active != "primary" || last != nil {
		t.Errorf("active_region %s, last_switch %+v; want primary and no switch", active, last)
	}
	if a := f.c.Agents()[0]; a.AutoFailover {
		t.Errorf("auto_failover reported true, want the default false")
	}
	if diff := cmp.Diff(sessionsUnder(primaryEnv, "a"), df.Sessions()); diff != "" {
		t.Errorf("session paths received (-want +got): the secondary must not be called\n%s", diff)
	}
}

// TestDialogflowAutoFailoverSwitchesAndSaysSo: with auto_failover on,
// the primary's breaker opening moves new sessions to the secondary, once,
// reported as an automatic decision; running sessions stay in the primary
// (hand-off while it is down, answers again once it is back).
func TestDialogflowAutoFailoverSwitchesAndSaysSo(t *testing.T) {
	df := startSim(t)
	var (
		mu       sync.Mutex
		switches []dialogflow.Switch
	)
	f := newFixture(t, df, setup{agents: twoRegions(true), options: func(o *dialogflow.Options) {
		quickBreaker(300 * time.Millisecond)(o)
		o.OnAutoSwitch = func(sw dialogflow.Switch) {
			mu.Lock()
			defer mu.Unlock()
			switches = append(switches, sw)
		}
	}})

	f.step(t, "old", "hello", primaryEnv, conversation.SourceDialogflow)
	df.SetEnvironmentMode(primaryEnv, sim.DialogflowUnavailable)
	f.step(t, "old", "hello", primaryEnv, conversation.SourceFallback) // the region fails: its breaker opens
	f.step(t, "new", "hello", secondaryEnv, conversation.SourceDialogflow)
	got := f.step(t, "old", "hello", primaryEnv, conversation.SourceFallback) // stays in its region
	if !cmp.Equal(got.Reasons, []string{"dialogflow: circuit open"}) {
		t.Errorf("running session while its region is down: reasons %v, want circuit open", got.Reasons)
	}
	f.step(t, "new2", "hello", secondaryEnv, conversation.SourceDialogflow)

	mu.Lock()
	want := []dialogflow.Switch{{Alias: "support", From: "primary", To: "secondary", Actor: dialogflow.AutoActor, Auto: true,
		Reason: "the primary environment's breaker is open (auto_failover)"}}
	if diff := cmp.Diff(want, switches, cmpopts.IgnoreFields(dialogflow.Switch{}, "At")); diff != "" {
		t.Errorf("automatic switches reported (-want +got):\n%s", diff)
	}
	mu.Unlock()
	a := f.c.Agents()[0]
	if a.ActiveRegion != "secondary" || !a.AutoFailover || a.LastSwitch == nil || a.LastSwitch.By != "auto" {
		t.Errorf("status after the automatic failover: active_region %s auto_failover %v last_switch %+v; want secondary, true, by auto",
			a.ActiveRegion, a.AutoFailover, a.LastSwitch)
	}
	if f.dep.ActiveEndpoint() != "primary" {
		t.Errorf("the dependency's active endpoint = %s: an automatic switch is the alias's, not an operator's failover", f.dep.ActiveEndpoint())
	}

	// The primary recovers: the running session is answered there again.
	df.SetEnvironmentMode(primaryEnv, "")
	eventually(t, "the primary breaker to allow a probe", func() bool { return f.c.Agents()[0].Environments[0].Breaker == "half-open" })
	f.step(t, "old", "what is my balance", primaryEnv, conversation.SourceDialogflow)
	f.step(t, "new3", "hello", secondaryEnv, conversation.SourceDialogflow) // no automatic failback

	wantPaths := append(sessionsUnder(primaryEnv, "old", "old"), sessionsUnder(secondaryEnv, "new", "new2")...)
	wantPaths = append(wantPaths, sessionsUnder(primaryEnv, "old")...)
	wantPaths = append(wantPaths, sessionsUnder(secondaryEnv, "new3")...)
	if diff := cmp.Diff(wantPaths, df.Sessions()); diff != "" {
		t.Errorf("session paths received (-want +got):\n%s", diff)
	}
}

// TestDialogflowFaultHitsTheRegionDialled: a drill fault on the primary
// hits the calls that go to the primary environment, also after a
// failover made the secondary the active region.
func TestDialogflowFaultHitsTheRegionDialled(t *testing.T) {
	df := startSim(t)
	faults := resilience.NewFaults(nil)
	f := newFixture(t, df, setup{agents: twoRegions(false), faults: faults})

	f.step(t, "old", "hello", primaryEnv, conversation.SourceDialogflow)
	if err := f.dep.SetActiveEndpoint("secondary", "oncall", "drill"); err != nil {
		t.Fatal(err)
	}
	if _, err := faults.Add(resilience.Fault{Dependency: "dialogflow", Endpoint: "primary", ErrorRate: 1, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got := f.step(t, "old", "hello", primaryEnv, conversation.SourceFallback)
	if !cmp.Equal(got.Reasons, []string{"dialogflow: injected fault"}) {
		t.Errorf("running session on the faulted primary: reasons %v, want injected fault", got.Reasons)
	}
	f.step(t, "new", "hello", secondaryEnv, conversation.SourceDialogflow)

	// A fault on the secondary spares the primary's sessions.
	if _, err := faults.Add(resilience.Fault{Dependency: "dialogflow", Endpoint: "secondary", ErrorRate: 1, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got = f.step(t, "new", "hello", secondaryEnv, conversation.SourceFallback)
	if !cmp.Equal(got.Reasons, []string{"dialogflow: injected fault"}) {
		t.Errorf("session on the faulted secondary: reasons %v, want injected fault", got.Reasons)
	}
	// The injected faults never reached Dialogflow.
	want := append(sessionsUnder(primaryEnv, "old"), sessionsUnder(secondaryEnv, "new")...)
	if diff := cmp.Diff(want, df.Sessions()); diff != "" {
		t.Errorf("session paths received (-want +got):\n%s", diff)
	}
}

// TestDialogflowSessionRegionIsBoundedAndExpires: a session's region is
// forgotten after session_ttl without a turn, or when more than
// max_sessions sessions are newer; it then starts over in the active
// region.
func TestDialogflowSessionRegionIsBoundedAndExpires(t *testing.T) {
	df := startSim(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	f := newFixture(t, df, setup{agents: twoRegions(false), options: func(o *dialogflow.Options) {
		o.Now, o.SessionIdle, o.MaxSessions = clock, 30*time.Minute, 2
	}})

	f.step(t, "idle", "hello", primaryEnv, conversation.SourceDialogflow)
	f.step(t, "busy", "hello", primaryEnv, conversation.SourceDialogflow)
	if err := f.dep.SetActiveEndpoint("secondary", "oncall", "drill"); err != nil {
		t.Fatal(err)
	}
	advance(29 * time.Minute)
	f.step(t, "busy", "hello", primaryEnv, conversation.SourceDialogflow) // within the TTL: its region
	advance(time.Minute)
	f.step(t, "idle", "hello", secondaryEnv, conversation.SourceDialogflow) // 30 idle minutes: a new session

	// max_sessions 2: busy and idle are remembered; two more push busy out.
	f.step(t, "x", "hello", secondaryEnv, conversation.SourceDialogflow)
	if err := f.dep.SetActiveEndpoint("primary", "oncall", "drill over"); err != nil {
		t.Fatal(err)
	}
	f.step(t, "x", "hello", secondaryEnv, conversation.SourceDialogflow)
	f.step(t, "busy", "hello", primaryEnv, conversation.SourceDialogflow) // forgotten, starts in the active region
	f.step(t, "idle", "hello", primaryEnv, conversation.SourceDialogflow) // pushed out by x and busy
}
