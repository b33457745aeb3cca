package resilience

import (
	"errors"
	"testing"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/config"
)

// TestFailoverFuncMakesADependencyFailOver: a dependency without a
// secondary URL (Dialogflow) can be failed over once a FailoverFunc is
// set; the function is called with who and why, and its error refuses
// the failover without changing anything.
func TestFailoverFuncMakesADependencyFailOver(t *testing.T) {
	e := newEnv(t, nil)
	d := e.set.Get("dialogflow")
	err := d.SetActiveEndpoint("secondary", "oncall", "x")
	if herr, ok := errors.AsType[*holdline.Error](err); !ok || herr.Code != holdline.ECONFLICT || !errors.Is(err, ErrNoSecondary) || d.HasSecondary() {
		t.Fatalf("SetActiveEndpoint(secondary) without a secondary = %v, HasSecondary %v; want a conflict wrapping ErrNoSecondary", err, d.HasSecondary())
	}

	var calls []string
	refuse := errors.New("refused")
	var fail bool
	d.SetFailover(func(to, actor, reason string) error {
		calls = append(calls, to+" "+actor+" "+reason)
		if fail {
			return refuse
		}
		return nil
	})
	if !d.HasSecondary() {
		t.Fatal("HasSecondary() = false with a FailoverFunc")
	}
	if err := d.SetActiveEndpoint("secondary", "oncall", "region down"); err != nil {
		t.Fatalf("SetActiveEndpoint(secondary) = %v", err)
	}
	if st := d.Status(); st.ActiveEndpoint != "secondary" || st.EndpointOverride == nil || st.EndpointOverride.Actor != "oncall" {
		t.Errorf("status after the failover: %s, %+v", st.ActiveEndpoint, st.EndpointOverride)
	}
	fail = true
	if err := d.SetActiveEndpoint("primary", "oncall", "back"); !errors.Is(err, refuse) {
		t.Errorf("SetActiveEndpoint(primary) with a refusing FailoverFunc = %v, want its error", err)
	}
	if d.ActiveEndpoint() != "secondary" {
		t.Errorf("a refused failover changed the active endpoint to %s", d.ActiveEndpoint())
	}
	if want := []string{"secondary oncall region down", "primary oncall back"}; len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Errorf("FailoverFunc calls = %q, want %q", calls, want)
	}
}

// TestFaultInjectAtMatchesTheEndpointDialled: InjectAt matches a fault's
// endpoint against the endpoint named, not the active one.
func TestFaultInjectAtMatchesTheEndpointDialled(t *testing.T) {
	e := newEnv(t, nil)
	d := e.set.Get("dialogflow")
	addFault(t, e.faults, Fault{Dependency: "dialogflow", Endpoint: "secondary", ErrorRate: 1, Duration: config.Duration(time.Minute)})
	if err := d.InjectAt(t.Context(), "secondary"); !errors.Is(err, ErrInjected) {
		t.Errorf("InjectAt(secondary) with the primary active = %v, want ErrInjected", err)
	}
	if err := d.InjectAt(t.Context(), "primary"); err != nil {
		t.Errorf("InjectAt(primary) = %v, want nil: the fault is on the secondary", err)
	}
	if err := d.Inject(t.Context()); err != nil {
		t.Errorf("Inject() with the primary active = %v, want nil", err)
	}
}
