package sim_test

import (
	"context"
	"testing"
	"time"

	cx "cloud.google.com/go/dialogflow/cx/apiv3"
	"cloud.google.com/go/dialogflow/cx/apiv3/cxpb"
	"github.com/google/go-cmp/cmp"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/holdline/holdline/internal/sim"
)

const dfEnv = "projects/p/locations/global/agents/a/environments/prod"

var dfNoRetry = gax.WithRetry(func() gax.Retryer { return nil })

func startDF(t *testing.T) (*sim.Dialogflow, *cx.SessionsClient, *cx.EnvironmentsClient) {
	t.Helper()
	df, err := sim.StartDialogflow("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(df.Stop)
	opts := append([]option.ClientOption{option.WithEndpoint(df.Addr())}, df.ClientOptions()...)
	sc, err := cx.NewSessionsClient(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	ec, err := cx.NewEnvironmentsClient(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ec.Close() })
	return df, sc, ec
}

func dfText(session, text string) *cxpb.DetectIntentRequest {
	return &cxpb.DetectIntentRequest{Session: session, QueryInput: &cxpb.QueryInput{
		LanguageCode: "en", Input: &cxpb.QueryInput_Text{Text: &cxpb.TextInput{Text: text}}}}
}

func TestDialogflowSimCannedIntents(t *testing.T) {
	df, sc, _ := startDF(t)
	tests := []struct {
		text, intent string
		handoff, end bool
	}{
		{"Hello", "greeting", false, false},
		{"get me a representative", "live_agent", true, false},
		{"my balance please", "check_balance", false, false},
		{"bye", "goodbye", false, true},
		{"qwerty", "", false, false},
	}
	for _, tt := range tests {
		resp, err := sc.DetectIntent(t.Context(), dfText(dfEnv+"/sessions/s1", tt.text), dfNoRetry)
		if err != nil {
			t.Fatalf("DetectIntent(%q) = %v", tt.text, err)
		}
		qr := resp.GetQueryResult()
		var handoff, end bool
		for _, m := range qr.GetResponseMessages() {
			handoff = handoff || m.GetLiveAgentHandoff() != nil
			end = end || m.GetEndInteraction() != nil
		}
		if qr.GetIntent().GetDisplayName() != tt.intent || handoff != tt.handoff || end != tt.end {
			t.Errorf("DetectIntent(%q) = intent %q handoff %v end %v, want %q %v %v",
				tt.text, qr.GetIntent().GetDisplayName(), handoff, end, tt.intent, tt.handoff, tt.end)
		}
	}
	if n := len(df.Sessions()); n != len(tests) {
		t.Errorf("Sessions() has %d paths, want %d", n, len(tests))
	}
}

func TestDialogflowSimModes(t *testing.T) {
	df, sc, ec := startDF(t)
	if err := df.SetMode("flaky"); err == nil {
		t.Errorf("SetMode(flaky) = nil, want an error")
	}

	df.SetEnvironmentMode(dfEnv, sim.DialogflowUnavailable)
	_, err := sc.DetectIntent(t.Context(), dfText(dfEnv+"/sessions/s1", "hi"), dfNoRetry)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("DetectIntent on an unavailable environment = %v, want Unavailable", err)
	}
	other := "projects/p/locations/global/agents/b/environments/prod"
	if _, err := sc.DetectIntent(t.Context(), dfText(other+"/sessions/s1", "hi"), dfNoRetry); err != nil {
		t.Errorf("DetectIntent on another environment = %v, want an answer", err)
	}

	df.SetEnvironmentMode(dfEnv, "")
	df.SetMode(sim.DialogflowHang)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := sc.DetectIntent(ctx, dfText(dfEnv+"/sessions/s1", "hi"), dfNoRetry); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("DetectIntent while hanging = %v, want DeadlineExceeded", err)
	}

	v := []string{"projects/p/locations/global/agents/a/flows/f/versions/7"}
	df.SetVersions(dfEnv, v)
	env, err := ec.GetEnvironment(t.Context(), &cxpb.GetEnvironmentRequest{Name: dfEnv}, dfNoRetry)
	if err != nil || len(env.GetVersionConfigs()) != 1 || env.GetVersionConfigs()[0].GetVersion() != v[0] {
		t.Errorf("GetEnvironment = %v, %v; want versions %v", env, err, v)
	}
	df.SetControlMode(sim.DialogflowUnavailable)
	if _, err := ec.GetEnvironment(t.Context(), &cxpb.GetEnvironmentRequest{Name: dfEnv}, dfNoRetry); status.Code(err) != codes.Unavailable {
		t.Errorf("GetEnvironment with the control plane down = %v, want Unavailable", err)
	}
	if diff := cmp.Diff([]string{dfEnv, dfEnv}, df.EnvironmentReads()); diff != "" {
		t.Errorf("EnvironmentReads() (-want +got):\n%s", diff)
	}

	// A hung call ends when the simulator stops; Stop is idempotent.
	done := make(chan error, 1)
	go func() {
		_, err := sc.DetectIntent(t.Context(), dfText(dfEnv+"/sessions/s2", "hi"), dfNoRetry)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second) // a hang guard
	for tick := time.Tick(time.Millisecond); len(df.Sessions()) < 4; <-tick {
		if time.Now().After(deadline) {
			t.Fatalf("the hung call did not reach the simulator: %d sessions, want 4", len(df.Sessions()))
		}
	}
	df.Stop()
	df.Stop()
	select {
	case err := <-done:
		if status.Code(err) != codes.Unavailable {
			t.Errorf("hung DetectIntent after Stop = %v, want Unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a hung call outlived Stop")
	}
}
