package main

import (
	"context"
	"fmt"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
)

// unhealthyTarget returns why failing dep over to endpoint to looks unwise
// (its active health checks say it is unhealthy), or "" when it does not
// or nobody checks it. A status that cannot be read says nothing: the
// failover itself will report the admin plane's trouble.
func unhealthyTarget(ctx context.Context, c *adminClient, dep, to string) string {
	r, err := c.status(ctx)
	if err != nil || r.JSON200 == nil {
		return ""
	}
	for _, d := range r.JSON200.Dependencies {
		if string(d.Name) != dep || d.Health == nil {
			continue
		}
		h := d.Health.Primary
		if to == "secondary" {
			h = d.Health.Secondary
		}
		if h == nil || h.State != adminapi.HealthUnhealthy {
			return ""
		}
		msg := fmt.Sprintf("%s's %s endpoint is unhealthy", dep, to)
		if h.CheckedAt != nil {
			msg += fmt.Sprintf(" (last check %s ago", time.Since(*h.CheckedAt).Round(time.Second))
			if h.LastError != "" {
				msg += ": " + h.LastError
			}
			msg += ")"
		}
		return msg
	}
	return ""
}
