package sidecar

import (
	"bytes"
	"encoding/json"
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
	"github.com/holdline/holdline/internal/gcsemu"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/testenv"
)

// fleet is what the sidecars of a fleet share: one CRM simulator, one GCS
// emulator and one redis-server.
type fleet struct {
	crm    *sim.CRM
	crmURL string
	gcs    *gcsemu.Server
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
	if f.gcs, err = gcsemu.Start(gcsemu.Options{Buckets: []string{sim.DevBucket}}); err != nil {
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
	cfg.Recordings.Store, cfg.Recordings.Bucket = "gcs", sim.DevBucket
	cfg.Dependencies.Blob.Endpoints.Primary = f.gcs.URL()
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
	t.Cleanup(func() {
		if t.Failed() {
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, "outbox") || strings.Contains(l, "spool") || strings.Contains(l, "ERROR") {
					t.Log(dataDir, l)
				}
			}
		}
	})
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

// clearFaults deletes every drill fault of n (the dependency is well
// again).
func (n *node) clearFaults(t *testing.T) {
	t.Helper()
	var list struct {
		Faults []struct {
			ID string `json:"id"`
		} `json:"faults"`
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, n.admin+"/v1/admin/faults", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Faults) == 0 {
		t.Fatalf("GET faults = %d, %v, %+v; want the active faults", resp.StatusCode, err, list)
	}
	for _, ft := range list.Faults {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, n.admin+"/v1/admin/faults/"+ft.ID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("DELETE fault %s = %d", ft.ID, resp.StatusCode)
		}
	}
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
	objs, _, err := f.gcs.Fake().ListObjects(sim.DevBucket, "recordings/", "", false) //nolint:staticcheck // the emulator's own listing
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

// TestFleetRedisDown: two sidecars, Redis stopped mid-run. Comments on
// interactions created before the outage and recording uploads keep being
// accepted (201/202); once Redis is back, every comment reaches the CRM
// exactly once and in order, and every recording is stored and attached
// exactly once.
func TestFleetRedisDown(t *testing.T) {
	f := startFleet(t)
	a := f.start(t, t.TempDir(), nil)
	b := f.start(t, t.TempDir(), nil)
	interactions := []string{"down-0", "down-1", "down-2"}
	for _, iid := range interactions {
		a.record(t, iid)
	}
	waitFor(t, "records created", 30*time.Second, func() (bool, string) {
		for _, iid := range interactions {
			if _, ok := f.crmRecord(iid); !ok {
				return false, iid
			}
		}
		return true, ""
	})

	f.redis.Stop()
	want := map[string]string{}
	for i, iid := range interactions {
		for seq := range 2 {
			body := fmt.Sprintf(`{"body":"%s comment %d"}`, iid, seq)
			if code := a.post(t, a.data+"/v1/interactions/"+iid+"/comments", body, nil); code != 201 && code != 202 {
				t.Fatalf("comment %d on %s with Redis down = %d, want 201 or 202", seq, iid, code)
			}
		}
		rec := fmt.Sprintf("rec-down-%d", i)
		want[rec] = iid
		if code, _, body := b.upload(t, iid, rec, bytes.Repeat([]byte(rec), 1000)); code != 201 && code != 202 {
			t.Fatalf("upload %s with Redis down = %d %s, want 201 or 202", rec, code, body)
		}
	}
	// A spooled upload with Redis down too: the store fails on B as well.
	b.fault(t, `{"dependency":"blob","error_rate":1,"status":503,"duration":"10m"}`)
	want["rec-down-spooled"] = interactions[0]
	if code, _, body := b.upload(t, interactions[0], "rec-down-spooled", []byte("spooled while everything is down")); code != 202 {
		t.Fatalf("upload with Redis and the store down = %d %s, want 202", code, body)
	}

	b.clearFaults(t)
	f.redis.Restart(t, f.ropts)
	waitFor(t, "every comment in the CRM once, in order", time.Minute, func() (bool, string) {
		for _, iid := range interactions {
			r, _ := f.crmRecord(iid)
			var got []string
			for _, c := range r.Comments {
				got = append(got, c.Body)
			}
			wantC := []string{iid + " comment 0", iid + " comment 1"}
			if strings.Join(got, "|") != strings.Join(wantC, "|") {
				return false, fmt.Sprintf("%s comments %q, want %q", iid, got, wantC)
			}
		}
		return true, ""
	})
	waitFor(t, "every recording attached once", time.Minute, func() (bool, string) { return f.attachedOnce(want) })
	f.storedOnce(t, want)
	for _, s := range []*node{a, b} {
		if st := s.status(t); st.Outbox.Dead != 0 {
			t.Errorf("status after Redis returned = %+v, want no dead job", st)
		}
	}
}

// TestFleetSpoolFull: with the store down and the spool at
// recordings.spool_max_bytes, an upload gets 507 with Retry-After and
// status says why, while CRM writes are still accepted; what was
// accepted before still reaches the CRM once the store is back.
func TestFleetSpoolFull(t *testing.T) {
	f := startFleet(t)
	small := func(c *config.Config) { c.Recordings.SpoolMaxBytes = 3000 }
	a := f.start(t, t.TempDir(), small)
	f.start(t, t.TempDir(), small)
	a.record(t, "full-0")
	a.fault(t, `{"dependency":"blob","error_rate":1,"status":503,"duration":"10m"}`)
	want := map[string]string{"rec-full-0": "full-0"}
	if code, _, body := a.upload(t, "full-0", "rec-full-0", bytes.Repeat([]byte("x"), 2000)); code != 202 {
		t.Fatalf("first upload = %d %s, want 202 (spooled)", code, body)
	}
	code, h, body := a.upload(t, "full-0", "rec-full-1", bytes.Repeat([]byte("y"), 2000))
	if code != 507 || h.Get("Retry-After") == "" || !strings.Contains(h.Get("Content-Type"), "problem+json") {
		t.Fatalf("upload past spool_max_bytes = %d %q %s, want a 507 problem with Retry-After", code, h, body)
	}
	if st := a.status(t); st.Spool.Full == "" && st.Spool.Bytes+2000 <= 3000 {
		t.Errorf("status spool = %+v, want it to say the spool is full", st.Spool)
	}
	if code := a.post(t, a.data+"/v1/interactions/full-0/comments", `{"body":"still writing"}`, nil); code != 201 && code != 202 {
		t.Fatalf("comment with the spool full = %d, want 201 or 202", code)
	}
	a.clearFaults(t)
	waitFor(t, "the spooled recording attached once", 20*time.Second, func() (bool, string) { return f.attachedOnce(want) })
	f.storedOnce(t, want)
}
