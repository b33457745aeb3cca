package crm

import (
	"github.com/prometheus/client_golang/prometheus"
)

// UsageReporter is implemented by a Client whose CRM reports its API quota
// in its answers (Salesforce, from Sforce-Limit-Info).
type UsageReporter interface {
	// APIUsage returns the newest usage reported, and false before any.
	APIUsage() (APIUsage, bool)
}

var _ UsageReporter = (*Salesforce)(nil)

// RegisterUsage registers, when c is a UsageReporter, the gauges
// holdline_crm_api_requests_used, holdline_crm_api_requests_limit and
// holdline_crm_api_requests_remaining (the CRM's daily API usage as it
// last reported it; absent until it has). It registers nothing for other
// clients. Call it once per registry.
func RegisterUsage(reg prometheus.Registerer, c Client) error {
	u, ok := c.(UsageReporter)
	if !ok {
		return nil
	}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, nil, nil)
	}
	return reg.Register(&usageCollector{
		u:         u,
		used:      desc("holdline_crm_api_requests_used", "API requests the CRM org has used in its daily allocation, as the CRM last reported (Salesforce Sforce-Limit-Info)."),
		limit:     desc("holdline_crm_api_requests_limit", "The CRM org's daily API request limit, as the CRM last reported."),
		remaining: desc("holdline_crm_api_requests_remaining", "API requests left in the CRM org's daily allocation, as the CRM last reported."),
	})
}

// usageCollector exports a UsageReporter's last report.
type usageCollector struct {
	u                      UsageReporter
	used, limit, remaining *prometheus.Desc
}

func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.limit
	ch <- c.remaining
}

func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	u, ok := c.u.APIUsage()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(u.Used))
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(u.Limit))
	ch <- prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, float64(u.Remaining()))
}
