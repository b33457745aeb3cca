package interactions_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
	"github.com/holdline/holdline/outbox/storetest"
)

// failoverEnv is the CRM write path wired the way the sidecar wires it,
// with two CRM endpoints: two simulators behind real HTTP servers (or,
// for shared records, one simulator behind two servers: one database, two
// URLs), one adapter bound to each, the recording flow on a directory
// store, and a real bolt outbox and dispatcher.
type failoverEnv struct {
	svc                *interactions.Service
	store              *outbox.BoltStore
	d                  *outbox.Dispatcher
	flow               *capture.Flow
	dep                *resilience.Dependency
	handlers           map[string]outbox.Handler
	primary, secondary *sim.CRM
	// writes counts write requests per endpoint.
	writes map[string]*atomic.Int64
}

// captureJobs is the outbox as the recording flow sees it.
type captureJobs struct {
	d     *outbox.Dispatcher
	store *outbox.BoltStore
}

func (c *captureJobs) Enqueue(ctx context.Context, j outbox.Job) (outbox.Job, bool, error) {
	return c.d.Enqueue(ctx, j)
}

func (c *captureJobs) Interaction(ctx context.Context, id string) ([]outbox.Job, error) {
	return c.store.Interaction(ctx, id)
}

func startFailover(t *testing.T, kind string, shared bool) *failoverEnv {
	t.Helper()
	e := &failoverEnv{primary: sim.NewCRM(sim.CRMOptions{Empty: true}), writes: map[string]*atomic.Int64{}}
	e.secondary = e.primary
	if !shared {
		e.secondary = sim.NewCRM(sim.CRMOptions{Empty: true})
	}
	serve := func(name string, c *sim.CRM) string {
		n := &atomic.Int64{}
		e.writes[name] = n
		h := c.Handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				n.Add(1)
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	cfg := config.Default()
	cfg.Dependencies.CRM.Kind = kind
	cfg.Dependencies.CRM.SharedRecords = shared
	cfg.Dependencies.CRM.Endpoints.Primary = serve(interactions.Primary, e.primary)
	cfg.Dependencies.CRM.Endpoints.Secondary = serve(interactions.Secondary, e.secondary)
	cfg.Dependencies.Blob.Endpoints.Primary = ""
	deps, err := resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	e.dep = deps.Get("crm")
	clients := map[string]crm.Client{}
	for name, url := range map[string]string{interactions.Primary: cfg.Dependencies.CRM.Endpoints.Primary, interactions.Secondary: cfg.Dependencies.CRM.Endpoints.Secondary} {
		if clients[name], err = crm.New(cfg.Dependencies.CRM, e.dep.HTTPClient(), func() string { return url }); err != nil {
			t.Fatal(err)
		}
	}
	e.store, err = outbox.OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	records, err := interactions.NewRecords(e.store, interactions.Endpoints{Clients: clients, Active: e.dep.ActiveEndpoint, SharedRecords: shared}, e.dep)
	if err != nil {
		t.Fatal(err)
	}
	blobStore, err := blob.NewDir(t.TempDir(), deps.Get("blob"))
	if err != nil {
		t.Fatal(err)
	}
	spool, err := blob.OpenSpool(t.TempDir(), blob.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cj := &captureJobs{store: e.store}
	e.flow, err = capture.New(blobStore, spool, cj, deps.Get("blob"), cfg.Recordings, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	handlers := interactions.Handlers(records)
	for k, h := range e.flow.Handlers(records, e.dep) {
		handlers[k] = h
	}
	e.handlers = handlers
	e.d, err = outbox.NewDispatcher(e.store, handlers, nil, outbox.DispatcherConfig{
		Backoff: config.Backoff{Initial: config.Duration(20 * time.Millisecond), Max: config.Duration(100 * time.Millisecond),
			MaxElapsed: config.Duration(time.Hour)},
		PollInterval: 20 * time.Millisecond,
		PauseDelay:   20 * time.Millisecond,
		OnFinish:     func(j outbox.Job) { e.svc.Finished(j) },
	})
	if err != nil {
		t.Fatal(err)
	}
	cj.d = e.d
	e.svc = interactions.New(e.d, e.store, e.dep, interactions.Options{WriteBudget: time.Minute, Records: records})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		storetest.CheckInvariants(t, e.store)
		e.store.Close()
	})
	return e
}

// waitState polls the store until job id is in state want.
func (e *failoverEnv) waitState(t *testing.T, id string, want outbox.State) outbox.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := e.store.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s) is %s after 10s, want %s; last error %q", id, j.Kind, j.State, want, j.LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *failoverEnv) failTo(t *testing.T, which string) {
	t.Helper()
	if err := e.dep.SetActiveEndpoint(which, "test", "failover drill"); err != nil {
		t.Fatal(err)
	}
}

// createRecord creates call's record and returns its id.
func (e *failoverEnv) createRecord(t *testing.T, call string) string {
	t.Helper()
	out, err := e.svc.CreateRecord(t.Context(), call, "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != interactions.Created {
		t.Fatalf("CreateRecord = %+v, want created", out)
	}
	return out.RecordID
}

// comment adds a comment without waiting for the CRM.
func (e *failoverEnv) comment(t *testing.T, call, body string) string {
	t.Helper()
	out, err := e.svc.AddComment(t.Context(), call, "", crm.Comment{Body: body, Author: "agent7"})
	if err != nil {
		t.Fatal(err)
	}
	return out.JobID
}

// attach uploads a recording and returns its attach job.
func (e *failoverEnv) attach(t *testing.T, call string) string {
	t.Helper()
	body := bytes.Repeat([]byte("RIFF"), 256)
	res, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: call, RecordingID: "rec-" + call, ContentType: "audio/wav",
		ContentLength: int64(len(body)), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Recording.JobID == "" {
		t.Fatalf("Upload = %+v, want an attach job", res)
	}
	return res.Recording.JobID
}

func (e *failoverEnv) noDead(t *testing.T) {
	t.Helper()
	st, err := e.store.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Dead != 0 || st.Held != 0 {
		t.Errorf("outbox Stats = %+v, want 0 dead and 0 held", st)
	}
}

// kinds are the CRM kinds: generic, and the two with ids of their own.
var kinds = []string{"generic", "salesforce", "zendesk"}

// TestEveryKindHasAHandler: the handlers of interactions and capture
// together run every kind of the job catalogue, and nothing else.
func TestEveryKindHasAHandler(t *testing.T) {
	e := startFailover(t, "generic", false)
	got := slices.Sorted(maps.Keys(e.handlers))
	want := slices.Sorted(slices.Values(timeline.Kinds()))
	if !slices.Equal(got, want) {
		t.Errorf("handler kinds = %v, want the catalogue's %v", got, want)
	}
	e.createRecord(t, "call-h") // and the dispatcher runs them
}

// TestWritesFollowTheirRecord: a record created on the primary keeps its
// comment and attachment across a failover and a failback: they wait
// (held) while the secondary is active and land on the primary's record
// exactly once after the failback; the secondary gets nothing.
func TestWritesFollowTheirRecord(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startFailover(t, kind, false)
			recordID := e.createRecord(t, "call-1")
			e.failTo(t, interactions.Secondary)

			com := e.comment(t, "call-1", "caller called back after the failover")
			held := e.waitState(t, com, outbox.Held)
			if !strings.Contains(held.LastError, "primary") || !strings.Contains(held.LastError, "secondary") {
				t.Errorf("held job's reason = %q, want it to name the record's endpoint and the active one", held.LastError)
			}
			if held.Attempts != 0 {
				t.Errorf("held job spent %d attempts, want 0", held.Attempts)
			}
			att := e.attach(t, "call-1")
			if n := e.writes[interactions.Secondary].Load(); n != 0 {
				t.Errorf("the secondary got %d writes while the record is on the primary, want 0", n)
			}
			if r := e.primary.Records(); len(r) != 1 || len(r[0].Comments) != 0 || len(r[0].Attachments) != 0 {
				t.Errorf("primary records while held = %+v, want one record with nothing added", r)
			}

			e.failTo(t, interactions.Primary)
			e.waitState(t, com, outbox.Done)
			e.waitState(t, att, outbox.Done)

			r, ok := e.primary.Record(recordID)
			if !ok {
				t.Fatalf("the primary has no record %q", recordID)
			}
			if len(r.Comments) != 1 || !strings.Contains(r.Comments[0].Body, "caller called back") {
				t.Errorf("primary record comments = %+v, want the one comment", r.Comments)
			}
			if len(r.Attachments) != 1 {
				t.Errorf("primary record attachments = %+v, want one", r.Attachments)
			}
			if got := e.secondary.Records(); len(got) != 0 {
				t.Errorf("secondary records = %+v, want none", got)
			}
			if n := e.writes[interactions.Secondary].Load(); n != 0 {
				t.Errorf("the secondary got %d writes, want 0", n)
			}
			e.noDead(t)

			// New interactions go to the active endpoint.
			e.failTo(t, interactions.Secondary)
			e.createRecord(t, "call-2")
			if got := e.secondary.Records(); len(got) != 1 || got[0].InteractionID != "call-2" {
				t.Errorf("secondary records after a new interaction = %+v, want call-2's", got)
			}
		})
	}
}

// TestSharedRecordsGoToTheActiveEndpoint: with shared_records (one
// database behind two URLs), a comment and an attachment after a failover
// go to the secondary URL with the primary's record id, and nothing waits.
func TestSharedRecordsGoToTheActiveEndpoint(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startFailover(t, kind, true)
			recordID := e.createRecord(t, "call-1")
			e.failTo(t, interactions.Secondary)
			before := e.writes[interactions.Primary].Load()

			e.waitState(t, e.comment(t, "call-1", "after the failover"), outbox.Done)
			e.waitState(t, e.attach(t, "call-1"), outbox.Done)

			r, ok := e.primary.Record(recordID)
			if !ok || len(r.Comments) != 1 || len(r.Attachments) != 1 {
				t.Errorf("shared record = %+v (found %v), want one comment and one attachment", r, ok)
			}
			if n := e.writes[interactions.Primary].Load(); n != before {
				t.Errorf("the primary URL got %d writes after the failover, want 0", n-before)
			}
			if n := e.writes[interactions.Secondary].Load(); n == 0 {
				t.Errorf("the secondary URL got no writes, want the comment and the attachment")
			}
			e.noDead(t)
		})
	}
}

// TestReplayToSecondaryRecreatesTheRecord: an operator who gives up on
// the primary moves the record: it is re-created on the secondary once,
// the held comment lands there, and later writes follow the new record.
func TestReplayToSecondaryRecreatesTheRecord(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := startFailover(t, kind, false)
			e.createRecord(t, "call-1")
			e.failTo(t, interactions.Secondary)
			com := e.comment(t, "call-1", "held note")
			e.waitState(t, com, outbox.Held)

			if err := e.svc.MoveRecord(t.Context(), "call-1", interactions.Secondary, "primary org lost"); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.MoveRecord(t.Context(), "call-1", interactions.Secondary, "asked twice"); err != nil {
				t.Fatal(err)
			}
			// A held job runs again every PauseDelay: the replay may find it
			// running, and then that run sees the move.
			if _, err := e.d.Replay(t.Context(), com); err != nil && !errors.Is(err, outbox.ErrInflight) {
				t.Fatal(err)
			}
			e.waitState(t, com, outbox.Done)
			later := e.comment(t, "call-1", "later note")
			e.waitState(t, later, outbox.Done)
			att := e.attach(t, "call-1")
			e.waitState(t, att, outbox.Done)

			got := e.secondary.Records()
			if len(got) != 1 || len(got[0].Comments) != 2 || len(got[0].Attachments) != 1 {
				t.Fatalf("secondary records = %+v, want one re-created record with both comments and the attachment", got)
			}
			if p := e.primary.Records(); len(p) != 1 || len(p[0].Comments) != 0 {
				t.Errorf("primary records = %+v, want the original record untouched", p)
			}
			moves, _, err := e.store.List(t.Context(), outbox.Filter{Kind: timeline.KindMoveRecord})
			if err != nil {
				t.Fatal(err)
			}
			if len(moves) != 1 || moves[0].State != outbox.Done {
				t.Errorf("move jobs = %+v, want one, done", moves)
			}
			v, err := e.svc.Get(t.Context(), "call-1")
			if err != nil {
				t.Fatal(err)
			}
			if v.RecordID != got[0].ID {
				t.Errorf("interaction's record = %q, want the secondary's %q", v.RecordID, got[0].ID)
			}
			e.noDead(t)
		})
	}
}
