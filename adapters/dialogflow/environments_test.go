package dialogflow_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/sim"
)

// eventually polls cond until it holds or a generous deadline passes. It
// is for waits on real time that no fake clock can stand in for (a
// breaker's open_for over a real gRPC connection).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestDialogflowNoSecondaryBreakerOpenFallsBack(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{options: func(o *dialogflow.Options) {
		o.Breaker = config.Breaker{FailureRate: 0.5, MinRequests: 4, Window: config.Duration(10 * time.Second),
			OpenFor: config.Duration(time.Minute), HalfOpenProbes: 1}
	}})
	df.SetMode(sim.DialogflowUnavailable)
	f.turn(t, "a", "hello")
	df.SetMode(sim.DialogflowOK)
	got := f.turn(t, "b", "hello")
	if got.Source != conversation.SourceFallback || !cmp.Equal(got.Reasons, []string{"dialogflow: circuit open"}) {
		t.Errorf("turn with the environment breaker open = %+v, want a fallback for circuit open", got)
	}
	if n := len(df.Sessions()); n != 1 {
		t.Errorf("Dialogflow got %d calls, want 1 (none while the breaker is open)", n)
	}
}

func TestDialogflowVersionsAndDrift(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{agents: support(secondaryEnv, time.Second)})
	v1 := []string{"projects/acme/locations/us-central1/agents/a1/flows/" + sim.DialogflowDefaultFlow + "/versions/1"}
	st := f.c.Agents()[0]
	if !st.VersionsRead || st.Drift || !cmp.Equal(st.Versions, v1) {
		t.Errorf("Agents() at start = read %v drift %v versions %v; want read, no drift, %v", st.VersionsRead, st.Drift, st.Versions, v1)
	}

	v2 := []string{"projects/acme/locations/us-central1/agents/a1/flows/f1/versions/2"}
	df.SetVersions(primaryEnv, v2)
	f.c.CheckVersions(t.Context())
	st = f.c.Agents()[0]
	if !st.Drift || !cmp.Equal(st.Versions, v1) {
		t.Errorf("Agents() after a deployment = drift %v versions %v; want drift, versions seen at start-up %v", st.Drift, st.Versions, v1)
	}
	if p, s := st.Environments[0], st.Environments[1]; !p.Drift || !cmp.Equal(p.CurrentVersions, v2) || s.Drift {
		t.Errorf("environments = %+v; want the primary drifted to %v and the secondary not", st.Environments, v2)
	}

	df.SetVersions(primaryEnv, v1) // rolled back
	f.c.CheckVersions(t.Context())
	if st := f.c.Agents()[0]; st.Drift {
		t.Errorf("Agents() after a rollback: drift %v, want false", st.Drift)
	}
}

func TestDialogflowRunReportsDrift(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{options: func(o *dialogflow.Options) { o.DriftInterval = 10 * time.Millisecond }})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.c.Run(ctx) }()

	df.SetVersions(primaryEnv, []string{primaryEnv + "/../../flows/f/versions/9"})
	eventually(t, "drift to be reported", func() bool { return f.c.Agents()[0].Drift })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil after cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestDialogflowStartsWhenEnvironmentsFail: static stability. The control
// plane is down at start-up: holdline starts on the configured pin, says
// so, and serves turns.
func TestDialogflowStartsWhenEnvironmentsFail(t *testing.T) {
	for _, mode := range []sim.DialogflowMode{sim.DialogflowUnavailable, sim.DialogflowHang} {
		t.Run(string(mode), func(t *testing.T) {
			df := startSim(t)
			df.SetControlMode(mode)
			start := time.Now()
			f := newFixture(t, df, setup{options: func(o *dialogflow.Options) { o.ReadTimeout = 200 * time.Millisecond }})
			// A hang guard, not a speed claim: New's context never ends, so
			// only ReadTimeout can end a read of a hung control plane.
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("New took %v with the control plane %s: ReadTimeout did not end the read", d, mode)
			}
			st := f.c.Agents()[0]
			if st.VersionsRead || len(st.Versions) != 0 || st.Environments[0].LastError == "" {
				t.Errorf("Agents() = %+v; want versions_read false, no versions and the reason", st)
			}
			// With the control plane hung, the read's own deadline
			// (ReadTimeout) ends the call: the reason is the caller's budget,
			// or the deadline gRPC reports when its status wins the race with
			// the context's; never the dependency's policy timeout.
			want := map[sim.DialogflowMode][]string{
				sim.DialogflowUnavailable: {"dialogflow: unavailable"},
				sim.DialogflowHang:        {"dialogflow: budget exhausted", "dialogflow: deadline exceeded"},
			}[mode]
			if got := st.Environments[0].LastError; !slices.Contains(want, got) {
				t.Errorf("LastError = %q with the control plane %s, want one of %q", got, mode, want)
			}
			if got := f.turn(t, "call-1", "hello"); got.Source != conversation.SourceDialogflow || got.Environment != primaryEnv {
				t.Errorf("turn with the control plane down = %+v, want Dialogflow on the pinned environment", got)
			}

			df.SetControlMode(sim.DialogflowOK)
			f.c.CheckVersions(t.Context())
			if st := f.c.Agents()[0]; !st.VersionsRead || st.Drift || len(st.Versions) != 1 {
				t.Errorf("Agents() after the control plane recovered = %+v; want the first read as the baseline, no drift", st)
			}
		})
	}
}
