package sidecar

import (
	"net/http"
	"testing"

	"github.com/holdline/holdline/internal/config"
)

// TestProbeListenerServesOnlyProbes: probe_listen answers the kubelet's
// /healthz and /readyz and nothing of the admin plane (status, audit,
// operator controls), which stays on its own loopback address.
func TestProbeListenerServesOnlyProbes(t *testing.T) {
	ts := startDev(t, func(c *config.Config) { c.ProbeListen = "127.0.0.1:0" })
	if ts.ProbeAddr() == "" {
		t.Fatal("ProbeAddr() is empty with probe_listen set")
	}
	probe := "http://" + ts.ProbeAddr()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/status": 404, "/ui": 404, "/metrics": 404, "/v1/admin/audit": 404} {
		resp, err := http.Get(probe + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s on the probe listener = %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Post(probe+"/v1/admin/breakers/crm", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 || resp.StatusCode == 401 {
		t.Errorf("POST an admin route on the probe listener = %d, want it unrouted", resp.StatusCode)
	}
}
