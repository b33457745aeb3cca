package sidecar

import (
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// TestActiveHealthInStatus: with active checks on the CRM, a drill fault
// on its secondary makes the secondary unhealthy in /v1/status while the
// primary stays healthy, and the breaker stays closed.
func TestActiveHealthInStatus(t *testing.T) {
	ts := startDev(t, func(c *config.Config) {
		c.Dependencies.CRM.HealthCheck = config.HealthCheck{Path: "/dev/crm/stats", Interval: config.Duration(time.Second),
			Timeout: config.Duration(2 * time.Second), HealthyThreshold: 1, UnhealthyThreshold: 1}
	})
	if code := ts.post(t, ts.admin+"/v1/admin/faults", `{"dependency":"crm","endpoint":"secondary","error_rate":1,"status":503,"duration":"5m"}`, nil); code != 201 {
		t.Fatalf("POST fault = %d", code)
	}
	type endpointHealth struct {
		State     string `json:"state"`
		LastError string `json:"last_error"`
	}
	type row struct {
		Name    string `json:"name"`
		Breaker string `json:"breaker"`
		Health  *struct {
			Primary, Secondary *endpointHealth
		} `json:"health"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st struct {
			Dependencies []row `json:"dependencies"`
		}
		ts.get(t, ts.admin+"/v1/status", &st)
		var crm row
		for _, d := range st.Dependencies {
			if d.Name == "crm" {
				crm = d
			} else if d.Health != nil {
				t.Fatalf("%s has health %+v, want none (no checks configured)", d.Name, d.Health)
			}
		}
		h := crm.Health
		if h != nil && h.Primary != nil && h.Secondary != nil && h.Primary.State == "healthy" && h.Secondary.State == "unhealthy" {
			if h.Secondary.LastError == "" || crm.Breaker != "closed" {
				t.Errorf("crm = %+v secondary %+v, want a last_error and the breaker closed", crm, h.Secondary)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("crm health after 15s = %+v, want primary healthy, secondary unhealthy", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
