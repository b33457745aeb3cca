package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/holdline/holdline/internal/gcsemu"
	"github.com/holdline/holdline/internal/sim"
)

// The harness re-executes itself for the processes it compares against,
// so each has its own CPU and memory figures:
//
//	bench child upstream ADDR               the 1 kB CRM stand-in
//	bench child rproxy ADDR TARGET_URL      httputil.ReverseProxy
//	bench child bare ADDR BODY_FILE         a bare net/http handler
//	bench child deps CRM_ADDR IDP_ADDR N TOKEN_FILE
//	                                        the CRM simulator (N extra contacts) and the OIDC simulator
//	bench child gcs ADDR                    fake-gcs-server with the bucket "bench"
//	bench child sidecar PPROF_ADDR CONFIG   holdline's sidecar with net/http/pprof (see profile.go)
const childArg = "child"

// runChild serves one child mode until SIGTERM.
func runChild(args []string) error {
	if len(args) < 2 {
		return errors.New("child: want MODE ADDR ...")
	}
	mode, addr := args[0], args[1]
	if mode == "sidecar" {
		if len(args) != 3 {
			return errors.New("child sidecar PPROF_ADDR CONFIG")
		}
		return runSidecarChild(addr, args[2])
	}
	if mode == "gcs" {
		g, err := gcsemu.Start(gcsemu.Options{Addr: addr, Buckets: []string{gcsBucket}})
		if err != nil {
			return err
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		return g.Close()
	}
	var h http.Handler
	var extra []*http.Server
	switch mode {
	case "upstream":
		h = upstreamHandler()
	case "rproxy":
		if len(args) != 3 {
			return errors.New("child rproxy ADDR TARGET")
		}
		u, err := url.Parse(args[2])
		if err != nil {
			return err
		}
		// As the team's reference rp.go: the naive proxy
		// people write first.
		p := httputil.NewSingleHostReverseProxy(u)
		p.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
		h = p
	case "bare":
		if len(args) != 3 {
			return errors.New("child bare ADDR BODY_FILE")
		}
		body, err := os.ReadFile(args[2])
		if err != nil {
			return err
		}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	case "deps":
		if len(args) != 5 {
			return errors.New("child deps CRM_ADDR IDP_ADDR N TOKEN_FILE")
		}
		var n int
		if _, err := fmt.Sscan(args[3], &n); err != nil {
			return err
		}
		crm := sim.NewCRM(sim.CRMOptions{})
		for i := range n {
			crm.AddContact(sim.CRMContact{Name: fmt.Sprintf("Caller %d", i), Email: fmt.Sprintf("caller%d@example.com", i), Phone: keyedPhone(i)})
		}
		h = crm.Handler()
		idp := sim.NewIdP(sim.IdPOptions{Issuer: "http://" + args[2], Audience: "holdline"})
		tok, err := idp.Mint("agent-1")
		if err != nil {
			return err
		}
		if err := os.WriteFile(args[4], []byte(tok), 0o600); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", args[2])
		if err != nil {
			return err
		}
		s := &http.Server{Handler: idp.Handler(), ReadHeaderTimeout: 5 * time.Second}
		extra = append(extra, s)
		go func() { _ = s.Serve(ln) }()
	default:
		return fmt.Errorf("child: unknown mode %q", mode)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = srv.Close()
		for _, s := range extra {
			_ = s.Close()
		}
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// upstreamBodySize is the size of the CRM stand-in's answers.
const upstreamBodySize = 1024

// upstreamHandler is a CRM speaking holdline's generic dialect with
// records embedded in the contact, so one screen pop is one CRM call:
// GET /contacts?phone=E164 answers a 1 kB contact for any number.
func upstreamHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts", func(w http.ResponseWriter, r *http.Request) {
		body := upstreamBody(r.URL.Query().Get("phone"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	return mux
}

// upstreamBody is a generic-dialect lookup answer for phone, padded to
// upstreamBodySize bytes (for phones of the usual 12 characters).
func upstreamBody(phone string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"contacts":[{"id":"c%s","name":"Caller %s","email":"caller@example.com","phone":%q,"url":"https://crm.example/contacts/c%s","records":[`,
		strings.TrimPrefix(phone, "+"), phone, phone, strings.TrimPrefix(phone, "+"))
	for i := range 4 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"r%d","subject":"Billing question about invoice 2026-11-%02d","status":"open","url":"https://crm.example/records/r%d","updated_at":"2026-11-22T10:00:00Z"}`, i, i+1, i)
	}
	b.WriteString(`],"note":"`)
	if pad := upstreamBodySize - b.Len() - len(`"}]}`); pad > 0 {
		b.WriteString(strings.Repeat("x", pad))
	}
	b.WriteString(`"}]}`)
	return b.String()
}
