package sidecar

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/adapters/statuspage"
	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/resilience"
)

// buildObservers builds what only informs operators: the active health
// checks of the dependencies that configure them, the vendor status page
// poller (config status_pages; advisory, it changes no call) and the
// Dialogflow drift gauges the alert rules in deploy/prometheus read.
func (s *Sidecar) buildObservers(context.Context) error {
	s.runners = append(s.runners, healthRunners(s.deps)...)
	if s.dialogflow != nil {
		if err := s.reg.Register(newDriftCollector(s.dialogflow.Agents)); err != nil {
			return err
		}
	}
	return s.buildStatusPages()
}

// buildStatusPages builds the status page poller over its own advisory
// dependency: the identity dependency's defaults with a 5s timeout, and an
// egress allowlist of exactly the pages' hosts. It is not one of the
// Set's dependencies, so nothing it reads can move a breaker or an
// endpoint.
func (s *Sidecar) buildStatusPages() error {
	pages := s.cfg.StatusPages
	if len(pages) == 0 {
		return nil
	}
	urls := make([]string, len(pages))
	for i, p := range pages {
		urls[i] = p.URL
	}
	hosts, err := resilience.AllowHosts(urls...)
	if err != nil {
		return err
	}
	p := config.Default().Dependencies.Identity
	p.Timeout, p.Allow = config.Duration(5*time.Second), hosts
	dep, err := resilience.NewAdvisory("status_pages", p, resilience.Options{
		Logger: s.log, AllowLoopback: s.opts.Dev || s.opts.AllowLoopback,
		TracerProvider: s.tracing.TracerProvider(), Propagator: s.tracing.Propagator(),
	})
	if err != nil {
		return err
	}
	s.statusPages = statuspage.New(pages, dep, statuspage.Options{Logger: s.log})
	if err := s.statusPages.Register(s.reg); err != nil {
		return err
	}
	s.runners = append(s.runners, s.statusPages.Run)
	return nil
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

// addVendorStatus puts each status page's report beside the dependency it
// concerns (config validation makes it one of them).
func addVendorStatus(deps []adminapi.DependencyStatus, reports []statuspage.Report) {
	for i := range deps {
		var vs []adminapi.VendorStatus
		for _, r := range reports {
			if r.Dependency != string(deps[i].Name) {
				continue
			}
			vs = append(vs, adminapi.VendorStatus{
				Name: r.Name, Kind: adminapi.VendorStatusKind(r.Kind), Url: r.URL,
				Indicator: adminapi.VendorStatusIndicator(r.Indicator), Description: r.Description,
				Incidents: nonNil(r.Incidents), CheckedAt: r.CheckedAt, VendorUpdatedAt: r.VendorUpdatedAt,
				LastError: r.LastError,
			})
		}
		if vs != nil {
			deps[i].VendorStatus = &vs
		}
	}
}

// addHealth puts each dependency's active health checks in its row.
func addHealth(rows []adminapi.DependencyStatus, set *resilience.Set) {
	for i := range rows {
		d := set.Get(string(rows[i].Name))
		if d == nil || !d.HealthChecked() {
			continue
		}
		h := d.Health()
		wire := func(ep string) *adminapi.EndpointHealth {
			e, ok := h[ep]
			if !ok {
				return nil
			}
			return &adminapi.EndpointHealth{State: adminapi.EndpointHealthState(e.State), Since: e.Since, CheckedAt: e.CheckedAt, LastError: e.LastError}
		}
		rows[i].Health = &struct {
			Primary   *adminapi.EndpointHealth `json:"primary,omitempty"`
			Secondary *adminapi.EndpointHealth `json:"secondary,omitempty"`
		}{Primary: wire("primary"), Secondary: wire("secondary")}
	}
}

// healthRunners are the active health checks of every dependency that has
// them, for Start.
func healthRunners(set *resilience.Set) []func(context.Context) error {
	var out []func(context.Context) error
	for _, d := range set.All() {
		if d.HealthChecked() {
			out = append(out, d.RunHealthChecks)
		}
	}
	return out
}
