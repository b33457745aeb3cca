package sidecar

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/internal/conversation"
)

// buildObservers registers what the alert rules in deploy/prometheus read
// and no component exports by itself: the Dialogflow drift gauges, read from
// the client's agent status at each scrape.
func (s *Sidecar) buildObservers(context.Context) error {
	if s.dialogflow == nil {
		return nil
	}
	return s.reg.Register(newDriftCollector(s.dialogflow.Agents))
}

// driftCollector exports holdline_dialogflow_drift and
// holdline_dialogflow_versions_read per agent alias and environment.
type driftCollector struct {
	agents func() []conversation.AgentStatus
	drift  *prometheus.Desc
	read   *prometheus.Desc
}

func newDriftCollector(agents func() []conversation.AgentStatus) *driftCollector {
	labels := []string{"agent", "environment", "role"}
	return &driftCollector{
		agents: agents,
		drift: prometheus.NewDesc("holdline_dialogflow_drift",
			"1 while an environment's agent versions differ from the ones read at start (someone re-pinned it under holdline): alert on it.", labels, nil),
		read: prometheus.NewDesc("holdline_dialogflow_versions_read",
			"1 once an environment's agent versions have been read, 0 while they cannot be (drift is then unknown).", labels, nil),
	}
}

func (c *driftCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.drift
	ch <- c.read
}

func (c *driftCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.agents() {
		for _, e := range a.Environments {
			ch <- prometheus.MustNewConstMetric(c.drift, prometheus.GaugeValue, b2f(e.Drift), a.Alias, e.Name, e.Role)
			ch <- prometheus.MustNewConstMetric(c.read, prometheus.GaugeValue, b2f(e.VersionsRead), a.Alias, e.Name, e.Role)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
