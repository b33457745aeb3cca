package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/gateway/adminapi"
)

func newStatusCmd(e env) *cobra.Command {
	var admin string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show every dependency, the outbox, identity keys and open drills of a running sidecar",
		Long: `Show the state of a running sidecar: each dependency (tier, breaker, active
endpoint, failure rate and p99 over the last minute, last error), the outbox
(pending, inflight, dead, oldest pending age), the identity key set (source,
age, until when it verifies tokens during a provider outage) and open drills.

Exit code: 0 healthy, 1 degraded, 2 unreachable, so it works in a probe or
a runbook step.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAdminClient(e, admin)
			if err != nil {
				return err
			}
			r, err := c.status(cmd.Context())
			if err != nil {
				if errors.Is(err, errUnreachable) {
					return &exitError{code: 2, msg: "holdline status: " + err.Error()}
				}
				return err
			}
			if asJSON {
				fmt.Fprintln(e.stdout, string(bytes.TrimSpace(r.Body)))
			} else {
				printStatus(e.stdout, r.JSON200)
			}
			if r.JSON200.Degraded {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	addAdminFlags(c, &admin)
	c.Flags().BoolVar(&asJSON, "json", false, "print the raw status JSON")
	return c
}

// printStatus writes the human-readable status: a headline, a table of
// dependencies, then a line each for the outbox, identity and drills.
func printStatus(w io.Writer, st *adminapi.Status) {
	state := "HEALTHY"
	if st.Degraded {
		state = "DEGRADED"
	}
	fmt.Fprintf(w, "holdline %s (%s), up since %s: %s\n\n", st.Version, st.Mode, st.StartedAt.Format(time.RFC3339), state)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPENDENCY\tTIER\tBREAKER\tENDPOINT\tCALLS/1m\tFAIL%\tP99\tLAST ERROR")
	for _, d := range st.Dependencies {
		breaker := string(d.Breaker)
		if d.BreakerMode != "" && d.BreakerMode != adminapi.DependencyStatusBreakerModeAuto {
			breaker += " (forced " + string(d.BreakerMode)
			if d.BreakerOverride != nil {
				breaker += " by " + d.BreakerOverride.Actor
			}
			breaker += ")"
		}
		if d.ActiveFaults > 0 {
			breaker += fmt.Sprintf(" [%d fault]", d.ActiveFaults)
		}
		if d.Auth == adminapi.DependencyStatusAuthAuthFailed {
			breaker += " [auth_failed]"
		}
		last := d.LastError
		if last == "" {
			last = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.0f%%\t%.1fms\t%s\n", d.Name, d.Tier, breaker, d.ActiveEndpoint, d.Calls1m, d.FailureRate1m*100, d.P99Ms, last)
	}
	tw.Flush()
	printVendorStatus(w, st.Dependencies, time.Now())
	printEndpointHealth(w, st.Dependencies)
	printConcurrency(w, st.Dependencies)
	if o := st.Outbox; o != nil && o.Error != nil {
		fmt.Fprintf(w, "\noutbox: %s\n", *o.Error)
	} else if o != nil {
		fmt.Fprintf(w, "\noutbox: %d pending (%d blocked behind dead jobs), %d held (waiting for their record's CRM endpoint), %d inflight, %d dead, oldest pending %s\n",
			o.Pending, o.Blocked, o.Held, o.Inflight, o.Dead, (time.Duration(o.OldestPendingAgeSeconds) * time.Second).String())
	}
	if id := st.Identity; id != nil {
		line := fmt.Sprintf("identity: keys %s", id.KeySource)
		if id.KeySource != adminapi.None {
			line += fmt.Sprintf(" %s old [%s]", deref(id.KeysAge), strings.Join(id.KeyIds, " "))
		}
		if id.KeysUsableUntil != nil {
			line += ", usable until " + id.KeysUsableUntil.Format(time.RFC3339)
		}
		if id.Degraded {
			line += "; DEGRADED: " + deref(id.Reason)
			if id.LastError != nil && *id.LastError != "" {
				line += " (" + *id.LastError + ")"
			}
		}
		fmt.Fprintln(w, line)
	}
	if df := st.Dialogflow; df != nil {
		printRegions(w, df.Agents)
	}
	if st.Drills.Enabled {
		var fs []string
		for _, f := range st.Drills.Faults {
			fs = append(fs, fmt.Sprintf("%s on %s until %s", f.Id, f.Dependency, f.ExpiresAt.Format(time.Kitchen)))
		}
		if len(fs) == 0 {
			fs = []string{"none"}
		}
		fmt.Fprintf(w, "drills: enabled; active faults: %s\n", strings.Join(fs, ", "))
	}
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// printRegions writes a line for each Dialogflow alias that has a
// secondary: where its new sessions go, and the last switch.
func printRegions(w io.Writer, agents []adminapi.DialogflowAgent) {
	for _, a := range agents {
		if a.Secondary == nil {
			continue
		}
		line := fmt.Sprintf("dialogflow %s: new sessions go to %s", a.Alias, a.ActiveRegion)
		if sw := a.LastSwitch; sw != nil {
			line += fmt.Sprintf(" (switched by %s at %s: %s)", sw.By, sw.At.Format(time.RFC3339), sw.Reason)
		}
		auto := "off"
		if a.AutoFailover {
			auto = "on"
		}
		fmt.Fprintf(w, "%s; auto_failover %s\n", line, auto)
	}
}
