package drill

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/gateway/adminapi"
)

func TestDirtyBaseline(t *testing.T) {
	clean := adminapi.DependencyStatus{Name: "crm", Breaker: "closed", BreakerMode: "auto", Auth: "ok"}
	for _, tt := range []struct {
		name string
		dep  func(d *adminapi.DependencyStatus)
		dead int
		want []string
	}{
		{name: "clean", dep: func(*adminapi.DependencyStatus) {}},
		{name: "half-open breaker", dep: func(d *adminapi.DependencyStatus) { d.Breaker = "half-open" }, want: []string{"crm: breaker half-open"}},
		{name: "forced breaker", dep: func(d *adminapi.DependencyStatus) { d.BreakerMode = "open" }, want: []string{"crm: breaker forced open by an operator"}},
		{name: "faults", dep: func(d *adminapi.DependencyStatus) { d.ActiveFaults = 2 }, want: []string{"crm: 2 active fault(s)"}},
		{name: "errors", dep: func(d *adminapi.DependencyStatus) { d.Calls1m, d.FailureRate1m = 100, 0.2 }, want: []string{"crm: failure rate 20% over the last minute (threshold 5%)"}},
		{name: "errors on too few calls", dep: func(d *adminapi.DependencyStatus) { d.Calls1m, d.FailureRate1m = 2, 0.5 }},
		{name: "errors under the threshold", dep: func(d *adminapi.DependencyStatus) { d.Calls1m, d.FailureRate1m = 100, 0.04 }},
		{name: "refused credentials", dep: func(d *adminapi.DependencyStatus) { d.Auth = "auth_failed" }, want: []string{"crm: credentials refused (auth_failed)"}},
		{name: "dead jobs", dep: func(*adminapi.DependencyStatus) {}, dead: 3, want: []string{"outbox: 3 dead job(s)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := clean
			tt.dep(&d)
			got := dirtyBaseline(&adminapi.Status{Dependencies: []adminapi.DependencyStatus{d}, Outbox: &adminapi.OutboxStatus{Dead: tt.dead}}, DefaultMaxBaselineErrorRate)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("dirtyBaseline (-want +got):\n%s", diff)
			}
		})
	}
}
