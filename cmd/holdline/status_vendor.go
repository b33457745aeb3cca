package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
)

// printVendorStatus writes, under the dependency table, one line per vendor
// status page, named by the dependency it concerns, and its open incidents:
// what the vendor says beside what the breaker does. Nothing when no page
// is configured.
func printVendorStatus(w io.Writer, deps []adminapi.DependencyStatus, now time.Time) {
	first := true
	for _, d := range deps {
		if d.VendorStatus == nil {
			continue
		}
		for _, v := range *d.VendorStatus {
			if first {
				fmt.Fprintln(w, "\nvendor status pages (advisory: they never trip a breaker):")
				first = false
			}
			line := fmt.Sprintf("  %s (%s): %s", d.Name, v.Name, strings.ToUpper(string(v.Indicator)))
			if v.Description != "" {
				line += ", " + v.Description
			}
			switch {
			case v.LastError != "":
				line += " [unreadable: " + v.LastError + "]"
			case v.CheckedAt != nil:
				line += fmt.Sprintf(" (checked %s ago)", now.Sub(*v.CheckedAt).Round(time.Second))
			}
			line += fmt.Sprintf("; breaker %s", d.Breaker)
			fmt.Fprintln(w, line)
			for _, in := range v.Incidents {
				fmt.Fprintf(w, "    - %s\n", in)
			}
		}
	}
}

// printEndpointHealth writes one line per dependency with active health
// checks: each endpoint's state, and why the last probe failed.
func printEndpointHealth(w io.Writer, deps []adminapi.DependencyStatus) {
	first := true
	for _, d := range deps {
		if d.Health == nil {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nendpoint health (active checks):")
			first = false
		}
		line := "  " + string(d.Name) + ":"
		for _, ep := range []struct {
			name string
			h    *adminapi.EndpointHealth
		}{{"primary", d.Health.Primary}, {"secondary", d.Health.Secondary}} {
			if ep.h == nil {
				continue
			}
			line += " " + ep.name + " " + string(ep.h.State)
			if ep.h.LastError != "" {
				line += " (" + ep.h.LastError + ")"
			}
		}
		fmt.Fprintln(w, line)
	}
}
