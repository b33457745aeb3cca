package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sidecar"
	"github.com/holdline/holdline/internal/telemetry"
)

type serveFlags struct {
	configFile  string
	dev         bool
	listen      string
	adminListen string
	probeListen string
	dataDir     string
	simURL      string
	outboxRedis string
	claimIdle   time.Duration
}

func newServeCmd(e env) *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve (--dev | --config FILE)",
		Short: "Run the sidecar",
		Long: `Run the sidecar: the data plane (screen pops, CRM writes, recordings,
Dialogflow turns, identity checks) on --listen and the admin plane (probes,
metrics, status, operator controls) on --admin-listen.

--dev starts in-process simulators for the CRM, the identity provider and
Dialogflow, stores recordings in {data-dir}/recordings, and runs an
in-memory cache, an outbox in a fresh temporary data dir (unless
--data-dir is given, so a dev sidecar can be restarted on the same data)
and fault injection, then prints the addresses, the admin token and
commands to try.

--sim URL (with --dev) uses a running holdline-sim (go run
./cmd/holdline-sim, a binary of its own so that the GCS emulator stays
out of this one) instead of in-process simulators: its CRM at URL, and
the GCS emulator it names at GET URL/dev/sim for recordings, so the CRM
ledger and the stored objects outlive the sidecar (a crash test kills the
sidecar, not the sim):

  holdline-sim --listen 127.0.0.1:7070
  holdline serve --dev --sim http://127.0.0.1:7070 --data-dir /tmp/holdline

--config FILE runs in production from a config file (see
examples/holdline.yaml; check it first with holdline config validate).

The admin token comes from HOLDLINE_ADMIN_TOKEN (dev mode generates one when
it is unset). SIGTERM or SIGINT drain in-flight requests, then close stores.

SIGHUP reloads without a restart: the CRM's secret files
(dependencies.crm.auth.*_file) are re-read at the next CRM call, and the
--config file is read again; every key whose value changed is logged as
needing a restart (listeners, data_dir, stores, policies, inline secrets).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, e, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.configFile, "config", "", "production config file (YAML)")
	fl.BoolVar(&f.dev, "dev", false, "dev mode: simulated upstreams, temporary data dir, fault injection on")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "data-plane address")
	fl.StringVar(&f.adminListen, "admin-listen", "127.0.0.1:9901", "admin-plane address")
	fl.StringVar(&f.probeListen, "probe-listen", "", "address serving only /healthz and /readyz (e.g. 0.0.0.0:9902 for the kubelet, keeping the admin plane on loopback)")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory for the outbox, recording spool and audit log")
	fl.StringVar(&f.outboxRedis, "outbox-redis", "", "fleet mode: keep the outbox on Redis Streams at redis://[user:pass@]HOST:PORT/DB (rediss:// for TLS)")
	fl.DurationVar(&f.claimIdle, "outbox-claim-idle", 0, "fleet mode (with --outbox-redis): take back a run whose sidecar sent no heartbeat for this long; outbox.claim_idle, default 30s, at least 1s")
	fl.StringVar(&f.simURL, "sim", "", "dev mode: use the simulators of a running holdline-sim at this URL instead of in-process ones")
	return c
}

// serve runs a sidecar until ctx ends or a listener fails: it reads the
// config (serveConfig), builds the sidecar (sidecar.New checks the config
// with sidecar.Check, the check `holdline config validate` runs, before it
// opens anything), starts it, and stops it.
func serve(cmd *cobra.Command, e env, f serveFlags) error {
	if err := f.check(cmd.Flags()); err != nil {
		return err
	}
	ctx := cmd.Context()
	// SIGHUP reloads; registered first, so that one arriving while the
	// sidecar starts does not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, tempDir, err := serveConfig(ctx, e, f, cmd.Flags())
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(e.stderr, cfg.Log.Level)
	if err != nil {
		return err
	}
	sc, err := sidecar.New(ctx, cfg, sidecar.Options{Logger: log, Dev: f.dev, SimURL: f.simURL, Version: version, Getenv: e.getenv})
	if err != nil {
		return err
	}
	if err := sc.Start(ctx); err != nil {
		return errors.Join(err, sc.Stop())
	}
	if f.dev {
		printDevBanner(e.stdout, sc, cfg, e.getenv("HOLDLINE_ADMIN_TOKEN"))
	}
	err = waitAndStop(ctx, sc, hup, func() *config.Config { return reloadConfig(ctx, e, f, cmd.Flags(), log) })
	if tempDir != "" && err == nil {
		_ = os.RemoveAll(tempDir)
	}
	return err
}

// changedFlags tells which flags the command line set (*pflag.FlagSet).
type changedFlags interface{ Changed(name string) bool }

// check refuses flag combinations that make no sense.
func (f serveFlags) check(fl changedFlags) error {
	switch {
	case f.dev == (f.configFile != ""):
		return errors.New("serve: give exactly one of --dev or --config FILE")
	case f.simURL != "" && !f.dev:
		return errors.New("serve: --sim needs --dev")
	case fl.Changed("outbox-claim-idle") && f.outboxRedis == "":
		return errors.New("serve: --outbox-claim-idle needs --outbox-redis (in a config file, set outbox.claim_idle)")
	}
	return nil
}

// serveConfig returns the config serve runs: DevConfig with --dev (in a
// fresh temporary data dir, returned as tempDir, unless --data-dir is
// given), else the --config file, checked as `holdline config validate`
// checks it; then the flags that override it.
func serveConfig(ctx context.Context, e env, f serveFlags, fl changedFlags) (cfg *config.Config, tempDir string, err error) {
	if f.dev {
		cfg = sidecar.DevConfig()
		if f.dataDir == "" {
			if tempDir, err = os.MkdirTemp("", "holdline-dev-"); err != nil {
				return nil, "", err
			}
			cfg.DataDir = tempDir
		}
	} else if cfg, err = config.LoadFile(f.configFile, e.getenv); err != nil {
		if errors.Is(err, config.ErrInvalid) {
			return nil, "", fmt.Errorf("%s is invalid (run holdline config validate %s):\n%w", f.configFile, f.configFile, err)
		}
		return nil, "", err
	}
	if err := applyServeFlags(ctx, cfg, f, fl); err != nil {
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return nil, "", err
	}
	return cfg, tempDir, nil
}

// applyServeFlags writes the flags that override the config into cfg.
// In dev mode the listen flags always apply (their defaults included).
func applyServeFlags(ctx context.Context, cfg *config.Config, f serveFlags, fl changedFlags) error {
	if fl.Changed("listen") || f.dev {
		cfg.Listen = f.listen
	}
	if fl.Changed("admin-listen") || f.dev {
		cfg.AdminListen = f.adminListen
	}
	if fl.Changed("probe-listen") {
		cfg.ProbeListen = f.probeListen
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.simURL != "" {
		if err := sidecar.UseSimStore(ctx, cfg, f.simURL); err != nil {
			return err
		}
	}
	if f.outboxRedis != "" {
		r, err := parseRedisURL(f.outboxRedis)
		if err != nil {
			return err
		}
		cfg.Outbox.Backend, cfg.Outbox.Redis = "redis", r
	}
	if fl.Changed("outbox-claim-idle") {
		cfg.Outbox.ClaimIdle = config.Duration(f.claimIdle)
	}
	return nil
}

// waitAndStop waits for ctx to end (SIGTERM, SIGINT) or a listener to
// fail, then stops the sidecar: drain, then close. Each SIGHUP on hup
// reloads: the secret files are re-read and the config file read again
// (reread), and the sidecar logs which changed keys need a restart.
func waitAndStop(ctx context.Context, sc *sidecar.Sidecar, hup <-chan os.Signal, reread func() *config.Config) error {
	var runErr error
wait:
	for {
		select {
		case <-hup:
			sc.Reload(reread())
		case <-ctx.Done():
			break wait
		case runErr = <-sc.Err():
			break wait
		}
	}
	return errors.Join(runErr, sc.Stop())
}

// reloadConfig reads the --config file again with serve's flags applied,
// for a reload to compare with the running config. In dev mode, or when
// the file is now invalid (logged, naming the problems), it returns nil:
// the reload then only re-reads the secret files.
func reloadConfig(ctx context.Context, e env, f serveFlags, fl changedFlags, log *slog.Logger) *config.Config {
	if f.dev {
		return nil
	}
	cfg, err := config.LoadFile(f.configFile, e.getenv)
	if err == nil {
		err = applyServeFlags(ctx, cfg, f, fl)
	}
	if err != nil {
		log.Error("config reload: the file is not usable, so no key in it is compared; secret files are re-read", "file", f.configFile, "err", err)
		return nil
	}
	return cfg
}

func printDevBanner(w io.Writer, sc *sidecar.Sidecar, cfg *config.Config, envToken string) {
	token := sc.GeneratedToken()
	tokenNote := "(generated; export it for the holdline command)"
	if token == "" {
		token, tokenNote = envToken, "(from HOLDLINE_ADMIN_TOKEN)"
	}
	data, admin := "http://"+sc.Addr(), "http://"+sc.AdminAddr()
	if cfg.Admin.TLS.Enabled() {
		admin = "https://" + sc.AdminAddr()
	}
	fmt.Fprintf(w, `holdline %s — dev mode (simulated upstreams, fault injection on)

  data plane    %s
  admin plane   %s   (status: %s/v1/status, metrics: %s/metrics)
  data dir      %s
  admin token   %s
                %s

  export HOLDLINE_ADMIN_TOKEN=%s

Try:
  curl -s -X POST %s/v1/screen-pop -H 'Content-Type: application/json' -d '{"phone":"(415) 555-0100"}'
  curl -s %s/v1/status
  curl -s -X POST %s/v1/admin/faults -H "Authorization: Bearer $HOLDLINE_ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{"dependency":"crm","error_rate":1,"status":503,"duration":"60s"}'

Ctrl-C stops it.
`, version, data, admin, admin, admin, cfg.DataDir, token, tokenNote, token, data, admin, admin)
}

// parseRedisURL reads redis://[user:pass@]host:port/db (rediss:// for TLS).
func parseRedisURL(s string) (config.Redis, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return config.Redis{}, fmt.Errorf("serve: --outbox-redis %q: want redis://HOST:PORT/DB", s)
	}
	r := config.Redis{Addr: u.Host, TLS: u.Scheme == "rediss"}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		r.Addr = net.JoinHostPort(u.Host, "6379")
	}
	if u.User != nil {
		r.Username = u.User.Username()
		p, _ := u.User.Password()
		r.Password = config.Secret(p)
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return config.Redis{}, fmt.Errorf("serve: --outbox-redis %q: database %q is not a number", s, db)
		}
		r.DB = n
	}
	return r, nil
}
