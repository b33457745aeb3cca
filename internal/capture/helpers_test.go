package capture_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/gcsemu"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

const bucket = "recordings"

// env is a Flow wired the way the sidecar wires it: the GCS emulator over
// loopback HTTP through the real blob dependency, a bbolt outbox with a
// running dispatcher, the CRM simulator behind the generic adapter.
type env struct {
	flow     *capture.Flow
	store    blob.Store
	gcs      *gcsemu.Server
	crm      *sim.CRM
	deps     *resilience.Set
	faults   *resilience.Faults
	jobs     *outbox.BoltStore
	spoolDir string
	cfg      config.Recordings
	// blobTurns counts the times the dispatcher considered running a job
	// of the blob dependency (and either held it, breaker open, or ran it).
	blobTurns atomic.Int64
}

type envOptions struct {
	dir       bool // the local-directory store instead of GCS
	maxBytes  int64
	partBytes int64
	noRun     bool // no dispatcher
	gcsURL    string
	chunkSize int   // the GCS store's chunk; 0 is its default (8 MiB)
	spoolMax  int64 // the spool's MaxBytes; 0 is unbounded
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{faults: resilience.NewFaults(nil)}
	cfg := config.Default()
	cfg.Recordings.MaxBytes = cmp(o.maxBytes, 64<<20)
	cfg.Recordings.AttachPartBytes = cmp(o.partBytes, 50_000_000)
	e.cfg = cfg.Recordings

	e.crm = sim.NewCRM(sim.CRMOptions{})
	crmSrv := httptest.NewServer(e.crm.Handler())
	t.Cleanup(crmSrv.Close)
	cfg.Dependencies.CRM.Endpoints.Primary = crmSrv.URL
	gcsURL := o.gcsURL
	if gcsURL == "" && !o.dir {
		g, err := gcsemu.Start(gcsemu.Options{Buckets: []string{bucket}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		e.gcs, gcsURL = g, g.URL()
	}
	cfg.Dependencies.Blob.Endpoints.Primary = gcsURL
	// A breaker that opens after a few failures, and probes soon.
	cfg.Dependencies.Blob.Breaker.MinRequests = 4
	cfg.Dependencies.Blob.Breaker.OpenFor = config.Duration(200 * time.Millisecond)
	cfg.Dependencies.Blob.Breaker.HalfOpenProbes = 1
	var err error
	e.deps, err = resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true, Faults: e.faults})
	if err != nil {
		t.Fatal(err)
	}
	blobDep, crmDep := e.deps.Get("blob"), e.deps.Get("crm")

	if o.dir {
		e.store, err = blob.NewDir(t.TempDir(), blobDep)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		c, err := blob.NewGCSClient(t.Context(), blobDep, gcsURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		e.store = blob.NewGCS(c, bucket, blob.GCSOptions{ChunkRetryDeadline: time.Second, ChunkSize: o.chunkSize})
	}
	e.spoolDir = filepath.Join(t.TempDir(), "spool")
	spool, err := blob.OpenSpool(e.spoolDir, blob.SpoolOptions{MaxBytes: o.spoolMax})
	if err != nil {
		t.Fatal(err)
	}
	e.jobs, err = outbox.OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), outbox.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.jobs.Close() })

	var disp *outbox.Dispatcher
	e.flow, err = capture.New(e.store, spool, e.jobs, blobDep, e.cfg, capture.Options{Notify: func() {
		if disp != nil {
			disp.Notify()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := crm.New(cfg.Dependencies.CRM, crmDep.HTTPClient(), crmDep.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	records, err := interactions.NewRecords(e.jobs, interactions.Endpoints{
		Clients: map[string]crm.Client{interactions.Primary: client}, Active: crmDep.ActiveEndpoint}, crmDep)
	if err != nil {
		t.Fatal(err)
	}
	handlers := interactions.Handlers(records)
	for k, h := range e.flow.Handlers(records, crmDep) {
		handlers[k] = h
	}
	disp, err = outbox.NewDispatcher(e.jobs, handlers, nil, outbox.DispatcherConfig{
		Paused: func(dep string) bool {
			if dep == "blob" {
				e.blobTurns.Add(1)
			}
			d := e.deps.Get(dep)
			return d != nil && !d.BreakerAllows()
		},
		PauseDelay:   50 * time.Millisecond,
		PollInterval: 20 * time.Millisecond,
		Backoff:      config.Backoff{Initial: config.Duration(20 * time.Millisecond), Max: config.Duration(100 * time.Millisecond), MaxElapsed: config.Duration(time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !o.noRun {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { disp.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return e
}

func cmp(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// createRecord queues the interaction's CRM record, as POST .../record does.
func (e *env) createRecord(t testing.TB, interactionID string) {
	t.Helper()
	j, err := timeline.CreateRecordJob(interactionID, "record:"+interactionID,
		timeline.RecordPayload{RequestHash: "h", Record: crm.NewRecord{InteractionID: interactionID, Subject: "call"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.jobs.Enqueue(t.Context(), j); err != nil {
		t.Fatal(err)
	}
}

func (e *env) upload(t testing.TB, interactionID, recordingID string, body []byte, digest string) (capture.Result, error) {
	t.Helper()
	return e.flow.Upload(t.Context(), capture.Request{InteractionID: interactionID, RecordingID: recordingID,
		ContentType: "audio/wav", ReprDigest: digest, ContentLength: int64(len(body)), Body: bytes.NewReader(body)})
}

// waitJob waits for the interaction's job of kind to be done and returns it.
func (e *env) waitJob(t testing.TB, interactionID, kind string, timeout time.Duration) outbox.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		jobs, err := e.jobs.Interaction(t.Context(), interactionID)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Kind == kind && j.State == outbox.Done {
				return j
			}
			if j.Kind == kind && j.State == outbox.Dead {
				t.Fatalf("job %s went dead: %s", kind, j.LastError)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s of %s not done after %v: %+v", kind, interactionID, timeout, jobs)
		}
		<-tick.C
	}
}

// eventually polls cond until it holds, and fails the test naming what it
// waited for after 10s: a hang guard, never a claim about speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		<-tick.C
	}
}

// objects lists the bucket's object names.
func (e *env) objects(t testing.TB) []string {
	t.Helper()
	objs, _, err := e.gcs.Fake().ListObjects(bucket, "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Name)
	}
	return names
}

// spoolFiles lists the spool directory.
func (e *env) spoolFiles(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(e.spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return names
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func reprDigest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

func readFile(dir, name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }

func removeAll(dir string) error { return os.RemoveAll(dir) }

// isInvalid reports whether err is the domain's invalid error naming field.
func isInvalid(err error, field string) bool {
	return holdline.ErrorCode(err) == holdline.EINVALID && holdline.ErrorField(err) == field
}
