package main

import "github.com/spf13/cobra"

func newRootCmd(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "holdline",
		Short: "A sidecar that keeps contact-center calls flowing when the CRM, identity provider or Dialogflow wobble",
		Long: `holdline runs next to contact-center CRM middleware and fronts every call it
makes to a CRM, an identity provider and Dialogflow CX. Screen pops always
answer within budget, recordings are always stored, and CRM writes that fail
are queued and replayed in order, exactly once.

Start here:
  holdline serve --dev        run a sidecar with simulated upstreams
  holdline config validate F  check a production config file

Docs: README.md and docs/ in the source tree.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(e), newConfigCmd(e), newVersionCmd(e), newStatusCmd(e), newBreakerCmd(e), newFailoverCmd(e), newOutboxCmd(e), newDrillCmd(e))
	return root
}
