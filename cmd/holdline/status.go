package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// statusDoc is the part of /v1/status the CLI prints.
type statusDoc struct {
	Version      string    `json:"version"`
	Mode         string    `json:"mode"`
	StartedAt    time.Time `json:"started_at"`
	Degraded     bool      `json:"degraded"`
	Dependencies []struct {
		Name            string `json:"name"`
		Tier            string `json:"tier"`
		Breaker         string `json:"breaker"`
		BreakerMode     string `json:"breaker_mode"`
		BreakerOverride *struct {
			Actor, Reason string
			At            time.Time
		} `json:"breaker_override"`
		ActiveEndpoint string  `json:"active_endpoint"`
		Auth           string  `json:"auth"`
		Calls          int     `json:"calls_1m"`
		FailureRate    float64 `json:"failure_rate_1m"`
		P99            float64 `json:"p99_ms"`
		LastError      string  `json:"last_error"`
		ActiveFaults   int     `json:"active_faults"`
	} `json:"dependencies"`
	Outbox *struct {
		Pending          int     `json:"pending"`
		Inflight         int     `json:"inflight"`
		Dead             int     `json:"dead"`
		Blocked          int     `json:"blocked"`
		Held             int     `json:"held"`
		OldestPendingAge float64 `json:"oldest_pending_age_seconds"`
	} `json:"outbox"`
	Identity *struct {
		Degraded        bool       `json:"degraded"`
		Reason          string     `json:"reason"`
		KeySource       string     `json:"key_source"`
		KeyIDs          []string   `json:"key_ids"`
		KeysAge         string     `json:"keys_age"`
		KeysUsableUntil *time.Time `json:"keys_usable_until"`
		LastError       string     `json:"last_error"`
	} `json:"identity"`
	Drills struct {
		Enabled bool `json:"enabled"`
		Faults  []struct {
			ID         string    `json:"id"`
			Dependency string    `json:"dependency"`
			ExpiresAt  time.Time `json:"expires_at"`
		} `json:"faults"`
	} `json:"drills"`
}

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
			c := newAdminClient(e, admin)
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/v1/status", nil, nil, &raw); err != nil {
				if errors.Is(err, errUnreachable) {
					return &exitError{code: 2, msg: "holdline status: " + err.Error()}
				}
				return err
			}
			var st statusDoc
			if err := json.Unmarshal(raw, &st); err != nil {
				return err
			}
			if asJSON {
				fmt.Fprintln(e.stdout, string(raw))
			} else {
				printStatus(e.stdout, &st)
			}
			if st.Degraded {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	addAdminFlags(c, &admin)
	c.Flags().BoolVar(&asJSON, "json", false, "print the raw status JSON")
	return c
}

func printStatus(w io.Writer, st *statusDoc) {
	state := "HEALTHY"
	if st.Degraded {
		state = "DEGRADED"
	}
	fmt.Fprintf(w, "holdline %s (%s), up since %s: %s\n\n", st.Version, st.Mode, st.StartedAt.Format(time.RFC3339), state)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPENDENCY\tTIER\tBREAKER\tENDPOINT\tCALLS/1m\tFAIL%\tP99\tLAST ERROR")
	for _, d := range st.Dependencies {
		breaker := d.Breaker
		if d.BreakerMode != "" && d.BreakerMode != "auto" {
			breaker += " (forced " + d.BreakerMode
			if d.BreakerOverride != nil {
				breaker += " by " + d.BreakerOverride.Actor
			}
			breaker += ")"
		}
		if d.ActiveFaults > 0 {
			breaker += fmt.Sprintf(" [%d fault]", d.ActiveFaults)
		}
		if d.Auth == "auth_failed" {
			breaker += " [auth_failed]"
		}
		last := d.LastError
		if last == "" {
			last = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.0f%%\t%.1fms\t%s\n", d.Name, d.Tier, breaker, d.ActiveEndpoint, d.Calls, d.FailureRate*100, d.P99, last)
	}
	tw.Flush()
	if o := st.Outbox; o != nil {
		fmt.Fprintf(w, "\noutbox: %d pending (%d blocked behind dead jobs), %d held (waiting for their record's CRM endpoint), %d inflight, %d dead, oldest pending %s\n",
			o.Pending, o.Blocked, o.Held, o.Inflight, o.Dead, (time.Duration(o.OldestPendingAge) * time.Second).String())
	}
	if id := st.Identity; id != nil {
		line := fmt.Sprintf("identity: keys %s", id.KeySource)
		if id.KeySource != "none" {
			line += fmt.Sprintf(" %s old [%s]", id.KeysAge, strings.Join(id.KeyIDs, " "))
		}
		if id.KeysUsableUntil != nil {
			line += ", usable until " + id.KeysUsableUntil.Format(time.RFC3339)
		}
		if id.Degraded {
			line += "; DEGRADED: " + id.Reason
			if id.LastError != "" {
				line += " (" + id.LastError + ")"
			}
		}
		fmt.Fprintln(w, line)
	}
	if st.Drills.Enabled {
		var fs []string
		for _, f := range st.Drills.Faults {
			fs = append(fs, fmt.Sprintf("%s on %s until %s", f.ID, f.Dependency, f.ExpiresAt.Format(time.Kitchen)))
		}
		if len(fs) == 0 {
			fs = []string{"none"}
		}
		fmt.Fprintf(w, "drills: enabled; active faults: %s\n", strings.Join(fs, ", "))
	}
}
