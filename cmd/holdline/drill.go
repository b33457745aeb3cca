package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/internal/drill"
)

func newDrillCmd(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "drill run|validate FILE",
		Short: "Run a failure scenario against a sidecar and report what broke, what still worked and what was lost",
		Long: `A drill injects faults and operator actions into a running sidecar on a
timeline, sends a mix of data-plane requests at a fixed rate meanwhile, and
checks the scenario's expectations. Scenario files: examples/drills/ and
docs/drills.md. Run drills against dev sidecars and staging only.`,
	}
	c.AddCommand(newDrillRunCmd(e), newDrillValidateCmd(e))
	return c
}

func newDrillValidateCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a scenario file; every problem names its key path",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScenario(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: ok (%s: %v at %g/s, %d timeline steps, %d expectations)\n", args[0], s.Name, s.Duration, s.Rate, len(s.Timeline), len(s.Expectations))
			return nil
		},
	}
}

func loadScenario(path string) (*drill.Scenario, error) {
	s, err := drill.LoadFile(path)
	if errors.Is(err, drill.ErrInvalid) {
		lines := strings.Split(err.Error(), "\n")
		return nil, &exitError{code: 1, msg: fmt.Sprintf("%s is invalid:\n  %s", path, strings.Join(lines, "\n  "))}
	}
	return s, err
}

func newDrillRunCmd(e env) *cobra.Command {
	var admin, target, report string
	var force bool
	c := &cobra.Command{
		Use:   "run FILE [--admin URL] [--target URL] [--report FILE] [--force]",
		Short: "Run a scenario; exit 0 when every expectation held, 1 otherwise",
		Long: `Run the scenario in FILE against a sidecar: apply its timeline through the
admin API (faults, forced breakers, failovers), send its request mix to the
data plane at a fixed rate, sample /v1/status every second, then wait for
the outbox to deliver what was accepted and check the expectations.

The report is printed as a table and written as JSON (--report). Every
fault the drill created is removed, and every breaker and endpoint it
changed put back, when it ends, also on Ctrl-C.

The admin token comes from HOLDLINE_ADMIN_TOKEN. Identity checks use
HOLDLINE_DRILL_IDENTITY_TOKEN when set (a dev sidecar mints one).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScenario(args[0])
			if err != nil {
				return err
			}
			if target == "" {
				target = e.getenv("HOLDLINE_TARGET")
			}
			if target == "" {
				target = "http://127.0.0.1:8080"
			}
			rep, runErr := drill.Run(cmd.Context(), s, drill.Options{
				Admin: adminURL(e, admin), Target: withScheme(target), Token: e.getenv("HOLDLINE_ADMIN_TOKEN"),
				IdentityToken: e.getenv("HOLDLINE_DRILL_IDENTITY_TOKEN"),
				Progress:      e.stderr,
				Force:         force,
			})
			if rep == nil {
				return runErr
			}
			if err := rep.WriteTable(e.stdout); err != nil {
				return err
			}
			if err := rep.WriteFile(report); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "\nreport written to %s\n", report)
			switch {
			case runErr != nil:
				return &exitError{code: 1, msg: runErr.Error() + " (faults removed; the report is partial)"}
			case !rep.Passed:
				return &exitError{code: 1, msg: fmt.Sprintf("drill %s failed: %d unexpected", s.Name, len(rep.Unexpected))}
			}
			return nil
		},
	}
	addAdminFlags(c, &admin)
	c.Flags().StringVar(&target, "target", "", "data-plane URL of the sidecar (default $HOLDLINE_TARGET or http://127.0.0.1:8080)")
	c.Flags().StringVar(&report, "report", "drill-report.json", "where to write the JSON report")
	c.Flags().BoolVar(&force, "force", false, "run although the baseline is not clean (a breaker not closed, faults, errors, dead jobs); the report is marked FORCED")
	return c
}

func withScheme(u string) string {
	if !strings.Contains(u, "://") {
		return "http://" + u
	}
	return u
}
