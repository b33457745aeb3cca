package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/gateway/adminapi"
)

func newBreakerCmd(e env) *cobra.Command {
	var admin, reason string
	c := &cobra.Command{
		Use:   "breaker open|close|auto DEPENDENCY --reason TEXT",
		Short: "Force a dependency's circuit breaker open or closed, or return it to auto",
		Long: `Force a dependency's circuit breaker (crm, identity, dialogflow, blob, redis):

  open    calls fail fast and callers get their fallback at once (stale or
          minimal screen pops, live-agent hand-off, queued CRM writes)
  close   failures are ignored: the breaker never opens
  auto    back to normal

Who (the admin token's name), why (--reason) and when are shown in status
and kept in the audit log.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := map[string]string{"open": "open", "close": "closed", "closed": "closed", "auto": "auto"}[args[0]]
			if mode == "" {
				return fmt.Errorf("breaker: %q is not open, close or auto", args[0])
			}
			if reason == "" {
				return fmt.Errorf("breaker: --reason is required (it goes to the audit log)")
			}
			c, err := newAdminClient(e, admin)
			if err != nil {
				return err
			}
			st, err := c.setBreaker(cmd.Context(), args[1], adminapi.SetBreakerJSONRequestBody{Mode: adminapi.SetBreakerJSONBodyMode(mode), Reason: reason})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: breaker %s (mode %s)\n", st.Name, st.Breaker, st.BreakerMode)
			return nil
		},
	}
	addAdminFlags(c, &admin)
	c.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the audit log)")
	return c
}

func newFailoverCmd(e env) *cobra.Command {
	var admin, reason, to string
	var force bool
	c := &cobra.Command{
		Use:   "failover DEPENDENCY --to secondary|primary --reason TEXT [--force]",
		Short: "Move a dependency's new calls to its other configured endpoint",
		Long: `Move new calls of a dependency to its secondary endpoint (or back to the
primary): the "reroute 100% of traffic to the alternative provider" step of
a contact-center failover runbook. Failover is a decision a person makes;
holdline never fails over by itself (except a Dialogflow alias that sets
auto_failover). Recorded in status and the audit log.

For dialogflow, every agent alias with a secondary environment sends its new
sessions to that region; a running session stays in the region it started
in for its whole life (docs/operations.md, the failover runbook).

When the dependency has active health checks (health_check) and they say
the target endpoint is unhealthy, failover refuses unless --force is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to != "primary" && to != "secondary" {
				return fmt.Errorf("failover: --to must be primary or secondary")
			}
			if reason == "" {
				return fmt.Errorf("failover: --reason is required (it goes to the audit log)")
			}
			c, err := newAdminClient(e, admin)
			if err != nil {
				return err
			}
			if msg := unhealthyTarget(cmd.Context(), c, args[0], to); msg != "" {
				if !force {
					return &exitError{code: 1, msg: "failover: " + msg + "; pass --force to fail over anyway"}
				}
				fmt.Fprintln(e.stderr, "warning: "+msg+"; failing over anyway (--force)")
			}
			st, err := c.setEndpoint(cmd.Context(), args[0], adminapi.SetEndpointJSONRequestBody{Active: adminapi.SetEndpointJSONBodyActive(to), Reason: reason})
			if err != nil {
				return err
			}
			if st.Name == adminapi.DependencyStatusNameDialogflow {
				fmt.Fprintf(e.stdout, "%s: new sessions go to %s; running sessions stay in their region\n", st.Name, st.ActiveEndpoint)
				return nil
			}
			fmt.Fprintf(e.stdout, "%s: new calls go to %s (%s)\n", st.Name, st.ActiveEndpoint, st.Endpoint)
			return nil
		},
	}
	addAdminFlags(c, &admin)
	c.Flags().StringVar(&to, "to", "", "primary or secondary (required)")
	c.Flags().BoolVar(&force, "force", false, "fail over even when active health checks say the target is unhealthy")
	c.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the audit log)")
	return c
}
