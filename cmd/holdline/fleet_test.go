package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/internal/testenv"
)

// The fleet outbox's run stream and consumer group: outbox.RedisOptions'
// default Prefix and Group, which `serve --outbox-redis` uses. The test
// reads the group's pending entries lists (the lease table) to learn which
// runs a process holds when it is killed.
const (
	fleetRunStream = "{holdline:outbox}:run"
	fleetGroup     = "holdline"
)

// TestFleetKill9FinishesEveryWriteOnce runs the fleet as it is deployed:
// one redis-server (appendonly, appendfsync always), one holdline-sim
// keeping the CRM ledger, and three `holdline serve --dev --outbox-redis`
// processes sharing the outbox. While the CRM fails writes, interactions
// are written through all three: each record through one sidecar, each
// comment through the next one, and some records a second time, with the
// same Idempotency-Key, through another sidecar. The CRM then hangs, and
// the third sidecar is killed with SIGKILL while it holds runs (its
// workers blocked in CRM calls). After the CRM recovers, the two survivors
// must take those runs back (after --outbox-claim-idle) and the ledger
// must hold every write exactly once, in order per interaction.
func TestFleetKill9FinishesEveryWriteOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs redis-server and four processes; skipped with -short")
	}
	t.Parallel()
	const (
		interactions = 60 // 1 record and 1-3 comments each: 180 writes
		clients      = 12
		claimIdle    = 3 * time.Second
		token        = "fleet-test-admin-token-0123456789"
	)
	started := time.Now()
	rds := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	t.Cleanup(func() { rdb.Close() })

	bin := buildHoldline(t)
	built := time.Now()
	logDir := t.TempDir()
	simProc := startProc(t, buildHoldlineSim(t), filepath.Join(logDir, "sim.log"), nil, "--listen", "127.0.0.1:0")
	simURL := simProc.waitFor(t, regexp.MustCompile(`CRM simulator on (http://\S+)`))[1]
	setMode(t, simURL, `{"mode":"503","scope":"write"}`)

	// Three sidecars on one Redis, each with a data dir of its own (the
	// local fallback store). They boot in parallel.
	type sidecar struct {
		name        string
		p           *proc
		data, admin string
		log         string
	}
	fleet := make([]*sidecar, 3)
	for i := range fleet {
		s := &sidecar{name: string(rune('a' + i)), log: filepath.Join(logDir, fmt.Sprintf("sidecar-%c.log", 'a'+i))}
		s.p = startProc(t, bin, s.log, []string{"HOLDLINE_ADMIN_TOKEN=" + token},
			"serve", "--dev", "--sim", simURL, "--outbox-redis", "redis://"+rds.Addr+"/0",
			"--outbox-claim-idle", claimIdle.String(), "--data-dir", t.TempDir(),
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
		fleet[i] = s
	}
	banner := regexp.MustCompile(`data plane\s+(http://\S+)[\s\S]*admin plane\s+(http://\S+)`)
	for _, s := range fleet {
		m := s.p.waitFor(t, banner)
		s.data, s.admin = m[1], m[2]
		waitReady(t, s.admin)
	}
	ready := time.Now()
	victim, survivors := fleet[2], fleet[:2]

	// The plan: write j of interaction i goes through sidecar (i+j)%3, so
	// records are spread over the fleet and every comment goes through
	// another sidecar than the write before it, its record's included.
	type write struct {
		via             int
		path, key, body string
		comment         string // the comment's body, "" for the record
	}
	plan := make([][]write, interactions)
	total := 0
	for i := range plan {
		id := fmt.Sprintf("fleet-%03d", i)
		plan[i] = append(plan[i], write{via: i % 3, path: "/v1/interactions/" + id + "/record", key: id + "-record",
			body: fmt.Sprintf(`{"subject":"Call %s","description":"fleet test","channel":"voice"}`, id)})
		for c := range i%3 + 1 {
			text := fmt.Sprintf("%s comment %d", id, c+1)
			plan[i] = append(plan[i], write{via: (i + c + 1) % 3, path: "/v1/interactions/" + id + "/comments",
				key: fmt.Sprintf("%s-comment-%d", id, c+1), body: fmt.Sprintf(`{"body":%q,"author":"agent-%d"}`, text, i%7), comment: text})
		}
		total += len(plan[i])
	}

	client := &http.Client{Timeout: 10 * time.Second}
	// send posts w through sidecar s and returns the status and job id.
	send := func(s *sidecar, w write) (int, string, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.data+w.path, strings.NewReader(w.body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", w.key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var res struct {
			JobID string `json:"job_id"`
		}
		_ = json.Unmarshal(b, &res)
		if resp.StatusCode >= 400 {
			return resp.StatusCode, "", fmt.Errorf("POST %s via %s = %d %s", w.path, s.name, resp.StatusCode, b)
		}
		return resp.StatusCode, res.JobID, nil
	}

	// Enqueue everything while the CRM fails. Writes of one interaction
	// are sent one after the other (acceptance order is the order the
	// ledger must show); a 5xx or no answer is retried with the same key.
	var (
		queued, created, retried, dupes atomic.Int64
		perSidecar                      [3]atomic.Int64
		jobsMu                          sync.Mutex
		jobOf                           = map[string]string{} // idempotency key -> job id
		errMu                           sync.Mutex
		clientErrs                      []error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		clientErrs = append(clientErrs, err)
	}
	accept := func(s *sidecar, w write) (string, bool) {
		deadline := time.Now().Add(hangGuard)
		for {
			code, jobID, err := send(s, w)
			switch {
			case code == http.StatusAccepted || code == http.StatusCreated:
				if code == http.StatusCreated {
					created.Add(1)
				}
				return jobID, true
			case code >= 400 && code < 500:
				fail(err)
				return "", false
			case time.Now().After(deadline):
				fail(fmt.Errorf("%s not accepted through %s within %v (hang guard): %v", w.key, s.name, hangGuard, err))
				return "", false
			}
			retried.Add(1)
			if !pause(t, 20*time.Millisecond) {
				return "", false
			}
		}
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < interactions; i = int(next.Add(1) - 1) {
				for j, w := range plan[i] {
					jobID, ok := accept(fleet[w.via], w)
					if !ok {
						return
					}
					queued.Add(1)
					perSidecar[w.via].Add(1)
					jobsMu.Lock()
					jobOf[w.key] = jobID
					jobsMu.Unlock()
					if j == 0 && i%5 == 0 {
						// The same record again through another sidecar:
						// the fleet shares its keys, so it is the same job.
						again, ok := accept(fleet[(w.via+1)%3], w)
						if !ok {
							return
						}
						if again != jobID {
							fail(fmt.Errorf("%s sent again through another sidecar: job %s, want %s", w.key, again, jobID))
						}
						dupes.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	// A job that Redis did not take within the fallback timeout is kept in
	// its sidecar's local store until forwarded, unseen by the others: a
	// later write of its interaction through another sidecar can then be
	// refused (409) or overtake it. Say so when that is why a check fails.
	fellBack := 0
	for _, s := range fleet {
		fellBack += fleetLogged(t, s.log, "outbox: redis unavailable, job kept locally until it returns", "")
	}
	if fellBack > 0 {
		t.Logf("%d enqueues fell back to a sidecar's local store (Redis slower than the fallback timeout)", fellBack)
	}
	if len(clientErrs) > 0 {
		t.Fatalf("%d writes failed (%d local fallbacks); first: %v (logs in %s)", len(clientErrs), fellBack, clientErrs[0], logDir)
	}
	if created.Load() != 0 {
		t.Errorf("%d writes answered 201 while the CRM failed every write", created.Load())
	}
	if st := outboxStatus(t, fleet[0].admin); st.Pending+st.Inflight != total || st.Dead != 0 {
		t.Fatalf("after enqueueing %d jobs, the fleet outbox has %+v, want them all pending or inflight", total, st)
	}
	enqueued := time.Now()
	t.Logf("fleet of 3 ready %v after the build; %d writes accepted while the CRM failed (via a/b/c: %d/%d/%d; %d records resent through another sidecar; %d retried sends) in %v",
		ready.Sub(built).Round(time.Millisecond), queued.Load(), perSidecar[0].Load(), perSidecar[1].Load(), perSidecar[2].Load(),
		dupes.Load(), retried.Load(), enqueued.Sub(ready).Round(time.Millisecond))

	// The CRM hangs: workers that claim a job block in the CRM call until
	// the CRM timeout. Kill the victim while it holds at least two runs.
	setMode(t, simURL, `{"mode":"hang","scope":"write","hang_max":"20s"}`)
	victimPid := victim.p.cmd.Process.Pid
	waitUntil(t, fmt.Sprintf("sidecar %s (pid %d) to hold two runs", victim.name, victimPid), func() (bool, string) {
		runs := fleetRuns(t, rdb)
		return runs[victimPid] >= 2, fmt.Sprintf("runs by pid: %v; logs in %s", runs, logDir)
	})
	victim.p.kill(t)
	killedAt := time.Now()
	held := fleetHeldJobs(t, rdb, victimPid)
	if len(held) == 0 {
		t.Fatalf("sidecar %s held no runs once killed", victim.name)
	}
	var heldDesc []string
	for _, id := range held {
		j := fleetJob(t, survivors[0].admin, token, id)
		if j.State != "inflight" {
			t.Fatalf("job %s held by the killed sidecar is %s, want inflight", id, j.State)
		}
		heldDesc = append(heldDesc, j.InteractionID+" "+j.Kind)
	}
	t.Logf("killed sidecar %s (pid %d) with SIGKILL %v after the CRM began to hang, holding %d runs: %s",
		victim.name, victimPid, killedAt.Sub(enqueued).Round(time.Millisecond), len(held), strings.Join(heldDesc, ", "))

	// The CRM recovers. The survivors drain the outbox, taking the dead
	// sidecar's runs back once they have been idle for claimIdle.
	setMode(t, simURL, `{"mode":"ok"}`)
	recovered := time.Now()
	var st outboxCounts
	waitUntil(t, "the fleet outbox to drain after the CRM recovered", func() (bool, string) {
		st = outboxStatus(t, survivors[0].admin)
		return st.Pending+st.Inflight == 0, fmt.Sprintf("%+v; runs by pid: %v; logs in %s", st, fleetRuns(t, rdb), logDir)
	})
	if st.Dead != 0 {
		t.Fatalf("outbox drained with %d dead jobs; logs in %s", st.Dead, logDir)
	}
	drained := time.Since(recovered)

	// The killed sidecar's runs were finished after it died, by the
	// survivors (which say so in their logs), and its lease entries are gone.
	var lastHeld time.Time
	for _, id := range held {
		j := fleetJob(t, survivors[1].admin, token, id)
		if j.State != "done" {
			t.Errorf("job %s held by the killed sidecar is %s after the drain, want done", id, j.State)
		}
		if j.UpdatedAt.Before(killedAt.Add(-time.Second)) {
			t.Errorf("job %s held by the killed sidecar was finished at %v, before the kill at %v", id, j.UpdatedAt, killedAt)
		}
		if j.UpdatedAt.After(lastHeld) {
			lastHeld = j.UpdatedAt
		}
	}
	if n := fleetRuns(t, rdb)[victimPid]; n != 0 {
		t.Errorf("the killed sidecar still holds %d runs after the drain", n)
	}
	takenBack := 0
	for _, s := range survivors {
		takenBack += fleetLogged(t, s.log, "outbox: took back jobs of a dead sidecar", "jobs")
	}
	if takenBack < len(held) {
		t.Errorf("survivors logged taking back %d runs of a dead sidecar, want at least %d", takenBack, len(held))
	}

	// Every write is in the ledger exactly once, in order.
	byInteraction := map[string][]ledgerRecord{}
	for _, r := range crmLedger(t, simURL) {
		if strings.HasPrefix(r.InteractionID, "fleet-") {
			byInteraction[r.InteractionID] = append(byInteraction[r.InteractionID], r)
		}
	}
	bad := 0
	for i, writes := range plan {
		id := fmt.Sprintf("fleet-%03d", i)
		recs := byInteraction[id]
		if len(recs) != 1 {
			t.Errorf("%s: %d records in the CRM, want 1", id, len(recs))
			bad++
			continue
		}
		var want, got []string
		for _, w := range writes[1:] {
			want = append(want, w.comment)
		}
		for _, c := range recs[0].Comments {
			got = append(got, c.Body)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: comments %q, want %q (each once, in order)", id, got, want)
			bad++
		}
		if bad > 10 {
			t.Fatalf("too many mismatches; logs in %s", logDir)
		}
	}
	if len(byInteraction) != interactions {
		t.Errorf("the CRM has records for %d interactions, want %d", len(byInteraction), interactions)
	}
	t.Logf("CRM recovered: drained in %v; the killed sidecar's %d runs were taken back by the survivors (%d logged) and the last finished %v after the kill",
		drained.Round(time.Millisecond), len(held), takenBack, lastHeld.Sub(killedAt).Round(time.Millisecond))
	for _, s := range survivors {
		s.p.term(t)
	}
	t.Logf("whole test took %v (%v after the build)", time.Since(started).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))
}

// TestServeClaimIdleFlag checks --outbox-claim-idle is refused without
// --outbox-redis and below the 1s floor of outbox.claim_idle.
func TestServeClaimIdleFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"without redis", []string{"--outbox-claim-idle", "3s"}, "--outbox-claim-idle needs --outbox-redis"},
		{"below 1s", []string{"--outbox-redis", "redis://127.0.0.1:1/0", "--outbox-claim-idle", "500ms"}, "outbox.claim_idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"holdline", "serve", "--dev", "--data-dir", t.TempDir(),
				"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, tt.args...)
			var stdout, stderr syncBuffer
			err := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve %v = %v, want an error about %s", tt.args, err, tt.want)
			}
		})
	}
}

// fleetConsumer matches the outbox's consumer names, hostname-pid-random.
var fleetConsumer = regexp.MustCompile(`-(\d+)-[0-9a-f]+$`)

// fleetRuns returns how many runs each process (by pid) holds: the sizes of
// the consumers' pending entries lists.
func fleetRuns(t *testing.T, rdb *redis.Client) map[int]int {
	t.Helper()
	p, err := rdb.XPending(t.Context(), fleetRunStream, fleetGroup).Result()
	if err != nil && err != redis.Nil {
		t.Fatalf("XPENDING %s: %v", fleetRunStream, err)
	}
	runs := map[int]int{}
	if p == nil {
		return runs
	}
	for name, n := range p.Consumers {
		if m := fleetConsumer.FindStringSubmatch(name); m != nil {
			pid, _ := strconv.Atoi(m[1])
			runs[pid] += int(n)
		}
	}
	return runs
}

// fleetHeldJobs returns the ids of the jobs whose runs process pid holds.
func fleetHeldJobs(t *testing.T, rdb *redis.Client, pid int) []string {
	t.Helper()
	ctx := t.Context()
	var ids []string
	for name, n := range fleetConsumerNames(t, rdb) {
		if n != pid {
			continue
		}
		pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: fleetRunStream, Group: fleetGroup,
			Start: "-", End: "+", Count: 1000, Consumer: name}).Result()
		if err != nil {
			t.Fatalf("XPENDING %s %s: %v", fleetRunStream, name, err)
		}
		for _, e := range pend {
			msgs, err := rdb.XRange(ctx, fleetRunStream, e.ID, e.ID).Result()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("XRANGE %s %s = %v, %v", fleetRunStream, e.ID, msgs, err)
			}
			ids = append(ids, fmt.Sprint(msgs[0].Values["job"]))
		}
	}
	slices.Sort(ids)
	return ids
}

// fleetConsumerNames maps the group's consumer names to their pids.
func fleetConsumerNames(t *testing.T, rdb *redis.Client) map[string]int {
	t.Helper()
	cs, err := rdb.XInfoConsumers(t.Context(), fleetRunStream, fleetGroup).Result()
	if err != nil {
		t.Fatalf("XINFO CONSUMERS %s: %v", fleetRunStream, err)
	}
	names := map[string]int{}
	for _, c := range cs {
		if m := fleetConsumer.FindStringSubmatch(c.Name); m != nil {
			pid, _ := strconv.Atoi(m[1])
			names[c.Name] = pid
		}
	}
	return names
}

type fleetJobView struct {
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	InteractionID string    `json:"interaction_id"`
	State         string    `json:"state"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// fleetJob reads one outbox job through the admin API.
func fleetJob(t *testing.T, admin, token, id string) fleetJobView {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, admin+"/v1/admin/outbox/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j fleetJobView
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /v1/admin/outbox/%s = %d %s", id, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		t.Fatalf("GET /v1/admin/outbox/%s: %v", id, err)
	}
	return j
}

// fleetLogged counts the lines of a sidecar's JSON log with message msg,
// or sums their integer attribute attr when attr is set.
func fleetLogged(t *testing.T, logFile, msg, attr string) int {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil || e["msg"] != msg {
			continue
		}
		if attr == "" {
			n++
		} else if v, ok := e[attr].(float64); ok {
			n += int(v)
		}
	}
	return n
}
