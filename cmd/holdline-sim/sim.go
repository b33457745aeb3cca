package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/internal/gcsemu"
	"github.com/holdline/holdline/internal/sim"
)

type simFlags struct {
	listen    string
	gcsListen string
	bucket    string
	oauthID   string
	oauthKey  string
	oauthTTL  time.Duration
}

func newSimCmd(stdout io.Writer) *cobra.Command {
	var f simFlags
	c := &cobra.Command{
		Use:   "holdline-sim",
		Short: "Run holdline's upstream simulators on their own (CRM and GCS, with /dev/ inspection routes)",
		Long: `Run the simulators a dev sidecar uses, outside any sidecar, so a crash test
or a drill can kill the sidecar while the simulated upstreams keep their
ledger and objects:

  holdline-sim --listen 127.0.0.1:7070
  holdline serve --dev --sim http://127.0.0.1:7070

The CRM simulator speaks the generic REST, Salesforce and Zendesk dialects
at the root, and shows its ledger at GET /dev/crm/contacts and
GET /dev/crm/records; POST /dev/crm/mode {"mode":"hang|503|flap|reset|ok"}
changes how it behaves.

The GCS emulator (fake-gcs-server, objects in memory) listens on
--gcs-listen, by default the port after --listen's (or a free port when
--listen's is 0), with the bucket --gcs-bucket; list it with
GET GCS/storage/v1/b/BUCKET/o. POST /dev/gcs/mode {"down":true} makes it
answer 503 to everything until {"down":false}.

--oauth-client-id and --oauth-client-secret make the CRM simulator an OAuth
2.0 token endpoint at /services/oauth2/token (grant_type client_credentials)
that issues tokens living --oauth-token-ttl and requires one on every CRM
route; POST /dev/crm/tokens/expire ends every issued token at once, to try
credential renewal (auth.type client_credentials, token_url
/services/oauth2/token).

GET /dev/sim answers {"crm":URL,"gcs":URL,"bucket":NAME}: serve --dev --sim
reads it to store recordings in this emulator (a dev sidecar without
--sim stores them in a directory under its data dir).

It is a binary of its own, not a holdline command, so that the emulator
stays out of the production binary: go run ./cmd/holdline-sim.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSim(cmd, stdout, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7070", "address to serve the CRM simulator and /dev/ routes on")
	fl.StringVar(&f.gcsListen, "gcs-listen", "", "address of the GCS emulator (default: --listen's host, the next port; a free port when --listen's is 0)")
	fl.StringVar(&f.bucket, "gcs-bucket", sim.DevBucket, "bucket the GCS emulator creates")
	fl.StringVar(&f.oauthID, "oauth-client-id", "", "issue OAuth tokens (client_credentials) to this client id and require them on the CRM routes")
	fl.StringVar(&f.oauthKey, "oauth-client-secret", "", "the client secret --oauth-client-id must present")
	fl.DurationVar(&f.oauthTTL, "oauth-token-ttl", time.Hour, "how long an issued token lives (0: until POST /dev/crm/tokens/expire)")
	return c
}

func runSim(cmd *cobra.Command, stdout io.Writer, f simFlags) error {
	var opts sim.CRMOptions
	if f.oauthID != "" || f.oauthKey != "" {
		if f.oauthID == "" || f.oauthKey == "" {
			return errors.New("holdline-sim: give both --oauth-client-id and --oauth-client-secret")
		}
		opts.OAuth = &sim.CRMOAuth{ClientID: f.oauthID, ClientSecret: f.oauthKey, TTL: f.oauthTTL}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("holdline-sim: listen %s: %w", f.listen, err)
	}
	gcsAddr := f.gcsListen
	if gcsAddr == "" {
		gcsAddr = nextPort(ln.Addr().(*net.TCPAddr), f.listen)
	}
	gcs, err := gcsemu.Start(gcsemu.Options{Addr: gcsAddr, Buckets: []string{f.bucket}})
	if err != nil {
		ln.Close()
		return err
	}
	defer gcs.Close()

	base := "http://" + ln.Addr().String()
	crm := sim.NewCRM(opts)
	mux := http.NewServeMux()
	mux.Handle("/dev/crm/", crm.DevHandler())
	mux.HandleFunc("GET /dev/sim", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sim.Info{CRM: base, GCS: gcs.URL(), Bucket: f.bucket})
	})
	mux.HandleFunc("POST /dev/gcs/mode", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Down *bool `json:"down"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Down == nil {
			http.Error(w, `send {"down":true} or {"down":false}`, http.StatusBadRequest)
			return
		}
		gcs.SetDown(*m.Down)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	})
	mux.Handle("/", crm.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "holdline-sim: CRM simulator on %s (ledger: %s/dev/crm/records)\n", base, base)
	fmt.Fprintf(stdout, "holdline-sim: GCS emulator on %s (bucket %s: %s/storage/v1/b/%s/o)\n", gcs.URL(), f.bucket, gcs.URL(), f.bucket)
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
}

// nextPort is the GCS emulator's default address: the CRM listener's host
// and port plus one, or a free port when the CRM's was chosen by the
// system (--listen with port 0).
func nextPort(crm *net.TCPAddr, listen string) string {
	if _, port, err := net.SplitHostPort(listen); err == nil && port == "0" {
		return net.JoinHostPort(crm.IP.String(), "0")
	}
	return net.JoinHostPort(crm.IP.String(), strconv.Itoa(crm.Port+1))
}
