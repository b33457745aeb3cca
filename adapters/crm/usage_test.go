package crm_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/adapters/crm/crmtest"
	"github.com/holdline/holdline/internal/sim"
)

func TestRegisterUsageExportsSalesforceLimitInfo(t *testing.T) {
	t.Parallel()
	_, srv := startSim(t, sim.CRMOptions{Salesforce: sim.SalesforceOptions{DailyLimit: 1000}})
	c := newClient(t, crmConfig("salesforce"), srv)
	reg := prometheus.NewRegistry()
	if err := crm.RegisterUsage(reg, c); err != nil {
		t.Fatal(err)
	}
	if got := gauges(t, reg); len(got) != 0 {
		t.Errorf("gauges before any answer = %v; want none", got)
	}
	for range 2 {
		if _, err := c.FindByPhone(t.Context(), crmtest.UnknownPhone); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{"holdline_crm_api_requests_used": 2, "holdline_crm_api_requests_limit": 1000, "holdline_crm_api_requests_remaining": 998}
	if diff := cmp.Diff(want, gauges(t, reg)); diff != "" {
		t.Errorf("usage gauges mismatch (-want +got):\n%s", diff)
	}
}

// gauges gathers reg's gauges by name.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestRegisterUsageIgnoresKindsWithoutUsage(t *testing.T) {
	t.Parallel()
	_, srv := startSim(t, sim.CRMOptions{})
	reg := prometheus.NewRegistry()
	for _, kind := range []string{"generic", "zendesk"} {
		if err := crm.RegisterUsage(reg, newClient(t, crmConfig(kind), srv)); err != nil {
			t.Errorf("RegisterUsage(%s) error = %v", kind, err)
		}
	}
	if got := gauges(t, reg); len(got) != 0 {
		t.Errorf("gauges registered for generic and zendesk = %v; want none", got)
	}
}
