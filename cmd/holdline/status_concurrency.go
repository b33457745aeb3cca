package main

import (
	"fmt"
	"io"

	"github.com/holdline/holdline/gateway/adminapi"
)

// printConcurrency writes one line per dependency whose bulkhead is worth
// a look: every adaptive one (where its limit is now), and a fixed one
// only while it is full. Nothing when there is none.
func printConcurrency(w io.Writer, deps []adminapi.DependencyStatus) {
	first := true
	for _, d := range deps {
		c := d.Concurrency
		if c == nil || (c.Mode != adminapi.ConcurrencyAdaptive && c.Inflight < c.Limit) {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nconcurrency (bulkhead):")
			first = false
		}
		line := fmt.Sprintf("  %s: ", d.Name)
		if c.Mode == adminapi.ConcurrencyAdaptive {
			line += fmt.Sprintf("adaptive limit %d (min %d, max %d)", c.Limit, c.Min, c.Max)
		} else {
			line += fmt.Sprintf("fixed limit %d", c.Limit)
		}
		line += fmt.Sprintf(", %d in flight", c.Inflight)
		if c.Queued > 0 {
			line += fmt.Sprintf(", %d queued", c.Queued)
		}
		if c.Inflight >= c.Limit {
			line += " FULL: calls over the limit are refused and degrade"
		}
		fmt.Fprintln(w, line)
	}
}
