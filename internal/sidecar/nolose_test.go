package sidecar

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/testenv"
)

// fleet is what the sidecars of a fleet share: one CRM simulator, one GCS
// emulator and one redis-server.
type fleet struct {
	crm    *sim.CRM
	crmURL string
	gcs    *sim.GCS
	redis  *testenv.Redis
	ropts  testenv.RedisOptions
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{crm: sim.NewCRM(sim.CRMOptions{}), ropts: testenv.RedisOptions{Persist: true}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.crm.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close below
	t.Cleanup(func() { srv.Close() })
	f.crmURL = "http://" + ln.Addr().String()
	if f.gcs, err = sim.StartGCS(sim.GCSOptions{Buckets: []string{DevBucket}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.gcs.Close() })
	f.redis = testenv.StartRedis(t, f.ropts)
	return f
}

// node is one sidecar of the fleet, which a test may stop and start again
// on the same data dir.
type node struct {
	*testSidecar
	dir     string
	stopped bool
}

// start runs a dev-mode sidecar (fault injection on, loopback allowed)
// whose CRM, GCS and outbox are the fleet's, on dataDir.
func (f *fleet) start(t *testing.T, dataDir string, mod func(*config.Config)) *node {
	t.Helper()
	cfg := DevConfig()
	cfg.Listen, cfg.AdminListen, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	cfg.Dependencies.CRM.Kind, cfg.Dependencies.CRM.Endpoints.Primary = "generic", f.crmURL
	cfg.Dependencies.Blob.Endpoints.Primary, cfg.Recordings.Bucket = f.gcs.URL(), DevBucket
	cfg.Dependencies.Blob.Breaker.OpenFor = config.Duration(time.Second)
	cfg.Outbox.Backend, cfg.Outbox.Redis = "redis", config.Redis{Addr: f.redis.Addr}
	cfg.Outbox.Backoff = config.Backoff{Initial: config.Duration(100 * time.Millisecond), Max: config.Duration(time.Second), MaxElapsed: config.Duration(time.Hour)}
	if mod != nil {
		mod(cfg)
	}
	logs := &syncBuffer{}
	sc, err := New(t.Context(), cfg, Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Dev:    true,
		Getenv: func(k string) string {
			if k == "HOLDLINE_ADMIN_TOKEN" {
				return token
			}
			return ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := &node{testSidecar: &testSidecar{Sidecar: sc, data: "http://" + sc.Addr(), admin: "http://" + sc.AdminAddr(), logs: logs}, dir: dataDir}
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if !n.stopped {
		n.stopped = true
		_ = n.Stop()
	}
}

// upload POSTs a recording and returns the status code.
func (n *node) upload(t *testing.T, interaction, recordingID string, body []byte) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, n.data+"/v1/interactions/"+interaction+"/recordings", bytes.NewReader(body))
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("X-Recording-Id", recordingID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload %s: %v", recordingID, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// status reads the parts of /v1/status these tests look at.
type fleetStatus struct {
	Degraded bool `json:"degraded"`
	Outbox   struct {
		Pending int `json:"pending"`
		Dead    int `json:"dead"`
	} `json:"outbox"`
	Spool struct {
		Owner   string `json:"owner"`
		Files   int    `json:"files"`
		Bytes   int64  `json:"bytes"`
		Full    string `json:"full"`
		ByOwner map[string]struct {
			Jobs int `json:"jobs"`
		} `json:"by_owner"`
	} `json:"spool"`
}

func (n *node) status(t *testing.T) fleetStatus {
	t.Helper()
	var st fleetStatus
	n.get(t, n.admin+"/v1/status", &st)
	return st
}

// waitFor polls cond until it holds or the hang guard passes.
func waitFor(t *testing.T, what string, guard time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(guard)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v: %s", what, guard, state)
		}
		<-tick.C
	}
}

// record creates the interaction's CRM record through n (201 or 202).
func (n *node) record(t *testing.T, interaction string) {
	t.Helper()
	if code := n.post(t, n.data+"/v1/interactions/"+interaction+"/record", `{"subject":"`+interaction+`"}`, nil); code != 201 && code != 202 {
		t.Fatalf("record %s = %d, want 201 or 202", interaction, code)
	}
}

// crmRecord is the simulator's record of an interaction.
func (f *fleet) crmRecord(interaction string) (sim.CRMRecord, bool) {
	for _, r := range f.crm.Records() {
		if r.InteractionID == interaction {
			return r, true
		}
	}
	return sim.CRMRecord{}, false
}

// attachedOnce reports whether every recording is attached exactly once
// to its interaction's record (by file name) and nothing else is.
func (f *fleet) attachedOnce(want map[string]string) (bool, string) {
	got := map[string]int{}
	for _, iid := range uniq(want) {
		r, ok := f.crmRecord(iid)
		if !ok {
			return false, "no CRM record for " + iid
		}
		for _, a := range r.Attachments {
			got[strings.TrimSuffix(a.Name, filepath.Ext(a.Name))]++
		}
	}
	for rec := range want {
		if got[rec] != 1 {
			return false, fmt.Sprintf("recording %s attached %d times; all: %v", rec, got[rec], got)
		}
	}
	if len(got) != len(want) {
		return false, fmt.Sprintf("attachments %v, want exactly %d recordings", got, len(want))
	}
	return true, ""
}

func uniq(m map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// TestFleetSpoolOwnership: two sidecars on one redis-server, the store
// failing on one of them (A) while it takes N uploads, which it spools
// (202). The other (B) runs the fleet's outbox all along but must leave
// A's spooled uploads alone (it does not have the bytes); A is stopped
// and started again on the same data dir with the store back, resumes its
// spool, and every recording ends stored and attached exactly once, with
// no dead job.
func TestFleetSpoolOwnership(t *testing.T) {
	f := startFleet(t)
	dirA := t.TempDir()
	a := f.start(t, dirA, nil)
	b := f.start(t, t.TempDir(), nil)
	const n = 6
	want := map[string]string{} // recording id -> interaction
	for i := range n {
		iid := fmt.Sprintf("own-%d", i%3)
		if i < 3 {
			b.record(t, iid)
		}
		want[fmt.Sprintf("rec-own-%d", i)] = iid
	}
	// The store fails on A only (a drill fault on its blob dependency).
	a.fault(t, `{"dependency":"blob","error_rate":1,"status":503,"duration":"10m"}`)
	for rec, iid := range want {
		if code, _, body := a.upload(t, iid, rec, bytes.Repeat([]byte(rec), 1000)); code != 202 {
			t.Fatalf("upload %s to A with its store down = %d %s, want 202 (spooled)", rec, code, body)
		}
	}
	st := b.status(t)
	owner := a.status(t).Spool.Owner
	if owner == "" || st.Spool.ByOwner[owner].Jobs != n {
		t.Fatalf("B's status spool.by_owner = %+v, want %d upload jobs of A (%q)", st.Spool.ByOwner, n, owner)
	}
	if sa := a.status(t); sa.Spool.Files != n {
		t.Fatalf("A's status spool = %+v, want %d files", sa.Spool, n)
	}

	// A goes away. B keeps running the outbox: a write through B that is
	// done proves B has claimed since A's uploads were due.
	a.stop()
	var res struct {
		Status string `json:"status"`
	}
	if code := b.post(t, b.data+"/v1/interactions/marker/record", `{"subject":"marker"}`, &res); code != 201 {
		t.Fatalf("marker write through B = %d %+v, want 201", code, res)
	}
	if st := b.status(t); st.Outbox.Dead != 0 || st.Spool.ByOwner[owner].Jobs != n {
		t.Fatalf("B's status with A away = dead %d, A's uploads %+v; want 0 dead and %d uploads waiting for A", st.Outbox.Dead, st.Spool.ByOwner, n)
	}

	// A comes back on the same data dir, its store working again.
	a = f.start(t, dirA, nil)
	if got := a.status(t).Spool.Owner; got != owner {
		t.Fatalf("A restarted on its data dir has owner %q, want %q", got, owner)
	}
	waitFor(t, "every recording attached once", time.Minute, func() (bool, string) { return f.attachedOnce(want) })
	for _, s := range []*node{a, b} {
		waitFor(t, "spool drained", 30*time.Second, func() (bool, string) {
			st := s.status(t)
			return st.Spool.Files == 0 && st.Outbox.Dead == 0, fmt.Sprintf("%+v", st)
		})
	}
	f.storedOnce(t, want)
}

// storedOnce checks the store holds exactly one object per recording.
func (f *fleet) storedOnce(t *testing.T, want map[string]string) {
	t.Helper()
	objs, _, err := f.gcs.Fake().ListObjects(DevBucket, "recordings/", "", false) //nolint:staticcheck // the emulator's own listing
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, o := range objs {
		got[strings.TrimSuffix(filepath.Base(o.Name), filepath.Ext(o.Name))]++
	}
	for rec := range want {
		if got[rec] != 1 {
			t.Errorf("recording %s stored %d times, want 1 (objects %v)", rec, got[rec], got)
		}
	}
}
