// Command holdline-sim runs holdline's upstream simulators on their own:
// the CRM simulator (generic, Salesforce and Zendesk dialects) and a GCS
// emulator (fake-gcs-server), so that a dev sidecar (`holdline serve --dev
// --sim URL`) can be killed and restarted while the CRM ledger and the
// stored recordings live on. It is a development and test tool, a binary
// of its own so that the emulator and what it links (gorilla/mux, Pub/Sub,
// OpenTelemetry) stay out of the production holdline binary.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run executes the command line args (args[0] is the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newSimCmd(stdout)
	root.SetArgs(args[1:])
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}
