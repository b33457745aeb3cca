package dialogflow_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/sim"
)

// TestDialogflowCallerErrorsDoNotMoveTheBreaker sends more bad requests
// than it takes to open the breakers, then as many calls to an unavailable
// region: only the second moves them.
func TestDialogflowCallerErrorsDoNotMoveTheBreaker(t *testing.T) {
	df := startSim(t)
	f := newFixture(t, df, setup{})
	const calls = 40 // twice the default min_requests
	for i := range calls {
		got, err := f.c.DetectIntent(t.Context(), "support", "bad-lang", conversation.Input{Text: "hola", LanguageCode: "xx_NOT!"})
		if err != nil || !cmp.Equal(got.Reasons, []string{"dialogflow: invalid argument"}) {
			t.Fatalf("turn %d with a bad language code = %+v, %v; want a fallback for invalid argument", i, got, err)
		}
	}
	if st := f.dep.Status(); st.Failures1m != 0 || st.Breaker != "closed" {
		t.Errorf("after %d bad requests the dependency has %d failures, breaker %s; want 0, closed", calls, st.Failures1m, st.Breaker)
	}
	if st := f.c.Agents()[0].Breaker; st != "closed" {
		t.Errorf("after %d bad requests the region's breaker is %s, want closed", calls, st)
	}
	if got := f.turn(t, "good", "hello"); got.Source == conversation.SourceFallback {
		t.Errorf("a good turn after the bad ones fell back: %+v", got)
	}

	if err := df.SetMode(sim.DialogflowUnavailable); err != nil {
		t.Fatal(err)
	}
	for range calls {
		f.turn(t, "down", "hello")
		if f.c.Agents()[0].Breaker == "open" {
			return
		}
	}
	t.Errorf("after %d calls to an unavailable region its breaker is %s, want open", calls, f.c.Agents()[0].Breaker)
}
