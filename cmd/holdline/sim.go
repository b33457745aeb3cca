package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/internal/sim"
)

func newSimCmd(e env) *cobra.Command {
	var listen string
	c := &cobra.Command{
		Use:   "sim",
		Short: "Run the upstream simulators on their own (CRM, with /dev/ inspection routes)",
		Long: `Run the simulators a dev sidecar uses, outside any sidecar, so a crash test
or a drill can kill the sidecar while the simulated upstream keeps its ledger:

  holdline sim --listen 127.0.0.1:7070
  holdline serve --dev --sim http://127.0.0.1:7070

The CRM simulator speaks the generic REST, Salesforce and Zendesk dialects
at the root, and shows its ledger at GET /dev/crm/contacts and
GET /dev/crm/records; POST /dev/crm/mode {"mode":"hang|503|flap|reset|ok"}
changes how it behaves.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			crm := sim.NewCRM(sim.CRMOptions{})
			mux := http.NewServeMux()
			mux.Handle("/dev/crm/", crm.DevHandler())
			mux.Handle("/", crm.Handler())
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("sim: listen %s: %w", listen, err)
			}
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			fmt.Fprintf(e.stdout, "holdline sim: CRM simulator on http://%s (ledger: http://%s/dev/crm/records)\n", ln.Addr(), ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case <-cmd.Context().Done():
				_ = srv.Close()
				<-errc
				return nil
			case err := <-errc:
				if errors.Is(err, http.ErrServerClosed) {
					return nil
				}
				return err
			}
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "address to serve the simulators on")
	return c
}
