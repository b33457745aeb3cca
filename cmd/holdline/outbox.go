package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/outbox"
)

// outboxFlags are shared by the outbox subcommands.
type outboxFlags struct {
	admin       string
	dataDir     string
	state       string
	kind        string
	interaction string
	since       string
	olderThan   string
	reason      string
	limit       int
	asJSON      bool
	dryRun      bool
	to          string
}

func newOutboxCmd(e env) *cobra.Command {
	c := &cobra.Command{
		Use:   "outbox",
		Short: "List, inspect, replay and purge the durable outbox of CRM writes and uploads",
		Long: `Work with the outbox: the durable queue of CRM writes and recording uploads
that could not be done synchronously.

Online (default): against a running sidecar's admin API (--admin, token from
HOLDLINE_ADMIN_TOKEN). Offline (--data-dir DIR): directly on the embedded
store of a stopped sidecar; list and show read it, replay marks jobs to run
at the next start. Offline mode refuses politely while a sidecar holds the
store.`,
	}
	c.AddCommand(newOutboxListCmd(e), newOutboxShowCmd(e), newOutboxReplayCmd(e), newOutboxPurgeCmd(e))
	return c
}

func (f *outboxFlags) add(c *cobra.Command, filters bool) {
	addAdminFlags(c, &f.admin)
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "offline: open the embedded store in this data dir (the sidecar must be stopped)")
	if filters {
		c.Flags().StringVar(&f.state, "state", "", "pending, inflight, held, done or dead")
		c.Flags().StringVar(&f.kind, "kind", "", "job kind, e.g. crm.create_record")
		c.Flags().StringVar(&f.interaction, "interaction", "", "interaction id")
		c.Flags().StringVar(&f.since, "since", "", "only jobs created within this long (e.g. 2h) or since an RFC 3339 time")
		c.Flags().IntVar(&f.limit, "limit", 0, "at most this many jobs")
	}
}

// openOffline opens the store of a stopped sidecar.
func openOffline(dataDir string) (*outbox.BoltStore, error) {
	path := filepath.Join(dataDir, "outbox.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no outbox at %s: %w", path, err)
	}
	s, err := outbox.OpenBolt(path, outbox.BoltOptions{LockTimeout: 500 * time.Millisecond})
	if errors.Is(err, outbox.ErrLocked) {
		return nil, fmt.Errorf("%s is held by a running sidecar: stop it first, or drop --data-dir to use its admin API", path)
	}
	return s, err
}

func (f *outboxFlags) filter(now time.Time) (outbox.Filter, error) {
	fl := outbox.Filter{State: outbox.State(f.state), Kind: f.kind, Interaction: f.interaction, Limit: f.limit}
	if f.state != "" && !fl.State.Valid() {
		return fl, fmt.Errorf("--state %q is not pending, inflight, held, done or dead", f.state)
	}
	if f.since != "" {
		t, err := sinceTime(f.since, now)
		if err != nil {
			return fl, err
		}
		fl.Since = t
	}
	return fl, nil
}

func sinceTime(s string, now time.Time) (time.Time, error) {
	t, err := config.ParseSince(s, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %w", err)
	}
	return t, nil
}

// params are the list filters for the admin API; empty flags are left out.
func (f *outboxFlags) params() *adminapi.ListJobsParams {
	p := &adminapi.ListJobsParams{}
	if f.state != "" {
		st := adminapi.ListJobsParamsState(f.state)
		p.State = &st
	}
	p.Kind, p.Interaction, p.Since = nonEmpty(f.kind), nonEmpty(f.interaction), nonEmpty(f.since)
	if f.limit > 0 {
		p.Limit = &f.limit
	}
	return p
}

// nonEmpty is &s, or nil for "".
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newOutboxListCmd(e env) *cobra.Command {
	var f outboxFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest last (--state dead, --kind, --interaction, --since)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobs, err := f.list(cmd.Context(), e, 0)
			if err != nil {
				return err
			}
			if f.asJSON {
				return json.NewEncoder(e.stdout).Encode(jobs)
			}
			printJobs(e.stdout, jobs)
			return nil
		},
	}
	f.add(c, true)
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	return c
}

// list fetches every matching job (following cursors) up to max (0: all,
// or --limit).
func (f *outboxFlags) list(ctx context.Context, e env, max int) ([]outbox.Job, error) {
	if max == 0 {
		max = f.limit
	}
	var out []outbox.Job
	if f.dataDir != "" {
		s, err := openOffline(f.dataDir)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		fl, err := f.filter(time.Now())
		if err != nil {
			return nil, err
		}
		for {
			page, next, err := s.List(ctx, fl)
			if err != nil {
				return nil, err
			}
			out = append(out, page...)
			if next == "" || (max > 0 && len(out) >= max) {
				break
			}
			fl.Cursor = next
		}
	} else {
		c, err := newAdminClient(e, f.admin)
		if err != nil {
			return nil, err
		}
		p := f.params()
		for {
			page, next, err := c.listJobs(ctx, p)
			if err != nil {
				return nil, err
			}
			for _, j := range page {
				out = append(out, jobOf(j))
			}
			if next == "" || (max > 0 && len(out) >= max) {
				break
			}
			p.Cursor = &next
		}
	}
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out, nil
}

func printJobs(w io.Writer, jobs []outbox.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tINTERACTION\tSTATE\tATTEMPTS\tAGE\tLAST ERROR")
	now := time.Now()
	for _, j := range jobs {
		last := j.LastError
		if len(last) > 60 {
			last = last[:57] + "..."
		}
		if last == "" {
			last = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.Kind, j.InteractionID, j.State, j.Attempts, now.Sub(j.CreatedAt).Round(time.Second), last)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d job(s)\n", len(jobs))
}

func newOutboxShowCmd(e env) *cobra.Command {
	var f outboxFlags
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show one job with its payload, result and last error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var j outbox.Job
			if f.dataDir != "" {
				s, err := openOffline(f.dataDir)
				if err != nil {
					return err
				}
				defer s.Close()
				if j, err = s.Get(cmd.Context(), args[0]); err != nil {
					return err
				}
			} else {
				c, err := newAdminClient(e, f.admin)
				if err != nil {
					return err
				}
				aj, err := c.getJob(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				j = jobOf(*aj)
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(j)
		},
	}
	f.add(c, false)
	return c
}

func newOutboxReplayCmd(e env) *cobra.Command {
	var f outboxFlags
	c := &cobra.Command{
		Use:   "replay [ID...] [--state dead] [--kind K] [--since 2h] [--dry-run] [--to secondary --reason R]",
		Short: "Make jobs pending and due now, attempts reset (by id or by filter)",
		Long: `Replay jobs: each becomes pending and due now with its attempts reset, and
runs again in its interaction's order. Give ids, or filters (--state dead
--kind crm.add_comment --since 2h). --dry-run shows what would be replayed.
Progress is shown on long runs. Offline (--data-dir) marks the jobs for the
next start of the sidecar, and records the replay in the data dir's audit
log with the OS user as the actor.

--to primary|secondary (with --reason; live sidecar only) is for writes held
because the CRM endpoint that created their record is gone for good: the
record is re-created on that endpoint first, then the writes go there.
Audited. Example: holdline outbox replay --state held --to secondary
--reason "primary org lost"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.replay(cmd.Context(), e, args)
		},
	}
	f.add(c, true)
	c.Flags().BoolVar(&f.dryRun, "dry-run", false, "show what would be replayed")
	c.Flags().StringVar(&f.reason, "reason", "", "why (recorded in the audit log)")
	c.Flags().StringVar(&f.to, "to", "", "re-create each job's record on this CRM endpoint (primary or secondary) first")
	return c
}

func (f *outboxFlags) replay(ctx context.Context, e env, ids []string) error {
	if len(ids) == 0 && f.state == "" && f.kind == "" && f.interaction == "" && f.since == "" {
		return errors.New("replay: give job ids or at least one filter (e.g. --state dead)")
	}
	if len(ids) == 0 {
		jobs, err := f.list(ctx, e, 0)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if j.State != outbox.Inflight {
				ids = append(ids, j.ID)
			}
		}
	}
	if f.dryRun {
		fmt.Fprintf(e.stdout, "would replay %d job(s):\n%s\n", len(ids), strings.Join(ids, "\n"))
		return nil
	}
	if f.to != "" {
		return f.replayTo(ctx, e, ids)
	}
	var store *outbox.BoltStore
	var client *adminClient
	var audited *offlineAudit
	if f.dataDir != "" {
		s, err := openOffline(f.dataDir)
		if err != nil {
			return err
		}
		defer s.Close()
		store = s
		if audited, err = openOfflineAudit(e, f.dataDir); err != nil {
			return err
		}
		defer audited.Close()
	} else {
		c, err := newAdminClient(e, f.admin)
		if err != nil {
			return err
		}
		client = c
	}
	var failed []string
	start := time.Now()
	for i, id := range ids {
		var err error
		if store != nil {
			_, err = store.Replay(ctx, id)
		} else {
			err = client.replayJob(ctx, id, f.reason)
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", id, err))
		}
		if (i+1)%100 == 0 || (len(ids) > 100 && i+1 == len(ids)) {
			fmt.Fprintf(e.stderr, "replayed %d/%d (%s)\n", i+1, len(ids), time.Since(start).Round(time.Millisecond))
		}
	}
	where := "the sidecar runs them now"
	if store != nil {
		where = "they run at the sidecar's next start"
		if err := audited.record(ctx, replayAction(ids), replayTarget(ids), f.reason, replayResult(failed), map[string]any{
			"replayed": len(ids) - len(failed), "failed": len(failed), "ids": firstN(ids, 100)}); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "replayed %d of %d job(s); %s\n", len(ids)-len(failed), len(ids), where)
	if len(failed) > 0 {
		return &exitError{code: 1, msg: "not replayed:\n" + strings.Join(failed, "\n")}
	}
	return nil
}

// replayTo replays ids on the live sidecar after re-creating their
// records on endpoint f.to.
func (f *outboxFlags) replayTo(ctx context.Context, e env, ids []string) error {
	switch {
	case f.to != "primary" && f.to != "secondary":
		return fmt.Errorf("replay: --to %q is not primary or secondary", f.to)
	case f.reason == "":
		return errors.New("replay: --to needs --reason (it is audited)")
	case f.dataDir != "":
		return errors.New("replay: --to needs the live sidecar (--admin), not --data-dir: the record is re-created through the CRM")
	}
	c, err := newAdminClient(e, f.admin)
	if err != nil {
		return err
	}
	to := adminapi.ReplayJobsJSONBodyTo(f.to)
	replayed, errs, err := c.replayJobs(ctx, adminapi.ReplayJobsJSONRequestBody{Ids: &ids, To: &to, Reason: &f.reason})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "replayed %d of %d job(s) onto the %s CRM endpoint's record; the sidecar runs them now\n", replayed, len(ids), f.to)
	if len(errs) > 0 {
		return &exitError{code: 1, msg: "not replayed:\n" + strings.Join(errs, "\n")}
	}
	return nil
}

func newOutboxPurgeCmd(e env) *cobra.Command {
	var f outboxFlags
	c := &cobra.Command{
		Use:   "purge --state done|dead --older-than 7d",
		Short: "Delete done (or dead) jobs older than a duration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.state != "done" && f.state != "dead" {
				return errors.New("purge: --state must be done or dead")
			}
			d, err := config.ParseDuration(f.olderThan)
			if err != nil || f.olderThan == "" {
				return errors.New("purge: --older-than must be a duration such as 7d")
			}
			var purged int
			if f.dataDir != "" {
				s, err := openOffline(f.dataDir)
				if err != nil {
					return err
				}
				defer s.Close()
				audited, err := openOfflineAudit(e, f.dataDir)
				if err != nil {
					return err
				}
				defer audited.Close()
				details := map[string]any{"state": f.state, "older_than": f.olderThan}
				purged, err = s.Purge(cmd.Context(), outbox.State(f.state), time.Now().Add(-d.D()))
				result := "ok"
				if err != nil {
					result = "error"
				}
				details["purged"] = purged
				if aerr := audited.record(cmd.Context(), "outbox.purge", "outbox", f.reason, result, details); aerr != nil || err != nil {
					return errors.Join(err, aerr)
				}
			} else {
				c, err := newAdminClient(e, f.admin)
				if err != nil {
					return err
				}
				purged, err = c.purgeJobs(cmd.Context(), adminapi.PurgeJobsJSONRequestBody{
					State: adminapi.PurgeJobsJSONBodyState(f.state), OlderThan: f.olderThan, Reason: &f.reason})
				if err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "purged %d %s job(s) older than %s\n", purged, f.state, f.olderThan)
			return nil
		},
	}
	addAdminFlags(c, &f.admin)
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "offline: the data dir of a stopped sidecar")
	c.Flags().StringVar(&f.state, "state", "", "done or dead (required)")
	c.Flags().StringVar(&f.olderThan, "older-than", "", "e.g. 7d (required)")
	c.Flags().StringVar(&f.reason, "reason", "", "why (recorded in the audit log)")
	return c
}

// replayAction, replayTarget and replayResult name an offline replay in
// the audit log as the admin API names the same replay.
func replayAction(ids []string) string {
	if len(ids) == 1 {
		return "outbox.replay"
	}
	return "outbox.replay_many"
}

func replayTarget(ids []string) string {
	if len(ids) == 1 {
		return ids[0]
	}
	return "outbox"
}

func replayResult(failed []string) string {
	if len(failed) == 0 {
		return "ok"
	}
	return fmt.Sprintf("%d failed", len(failed))
}

func firstN(ids []string, n int) []string { return ids[:min(n, len(ids))] }
