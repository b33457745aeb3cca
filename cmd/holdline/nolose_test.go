package main

import (
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/testenv"
)

// TestFleetSpoolOwnerKill9: two `holdline serve` processes on one
// redis-server and one holdline-sim. The store fails on A (a drill
// fault) while it takes N uploads, which it spools (202); A is killed
// with SIGKILL; B runs the fleet's outbox meanwhile and must leave A's
// uploads alone (it has not got the bytes). A restarted on the same data
// dir resumes its spool: N of N recordings stored once and attached once.
func TestFleetSpoolOwnerKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs redis-server and three processes; skipped with -short")
	}
	const n = 6
	rds := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	bin := buildHoldline(t)
	logDir := t.TempDir()
	sim := startSimProc(t, logDir)
	banner := regexp.MustCompile(`data plane\s+(http://\S+)[\s\S]*admin plane\s+(http://\S+)`)
	serve := func(name, dataDir string) (p *proc, data, admin string) {
		p = startProc(t, bin, filepath.Join(logDir, name+".log"), []string{"HOLDLINE_ADMIN_TOKEN=" + recTestToken},
			"serve", "--dev", "--sim", sim.crm, "--outbox-redis", "redis://"+rds.Addr+"/0",
			"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
		m := p.waitFor(t, banner)
		waitReady(t, m[2])
		return p, m[1], m[2]
	}
	dirA := t.TempDir()
	pa, dataA, adminA := serve("a", dirA)
	_, dataB, _ := serve("b", t.TempDir())
	client := &http.Client{Timeout: 30 * time.Second}

	want := map[string]string{} // recording id -> interaction
	for i := range 3 {
		iid := fmt.Sprintf("k9-%d", i)
		if code, err := createRecord(client, dataB, iid); err != nil || code/100 != 2 {
			t.Fatalf("record %s through B = %d, %v", iid, code, err)
		}
		for j := range n / 3 {
			want[fmt.Sprintf("rec-k9-%d-%d", i, j)] = iid
		}
	}
	addBlobFault(t, adminA, 10*time.Minute)
	seed := uint64(1)
	for rec, iid := range want {
		seed++
		code, _, err := upload(client, dataA, iid, rec, newAudio(seed, 64<<10))
		if err != nil || code != 202 {
			t.Fatalf("upload %s to A with its store failing = %d, %v; want 202 (spooled)", rec, code, err)
		}
	}
	pa.kill(t)
	// B runs the outbox while A is away: a record written through B and
	// done proves B has claimed since A's uploads were due.
	if code, err := createRecord(client, dataB, "k9-marker"); err != nil || code != 201 {
		t.Fatalf("marker record through B = %d, %v; want 201", code, err)
	}
	serve("a-again", dirA) // same data dir, same owner, no fault

	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polls the sim's ledger until the deadline
	defer tick.Stop()
	for {
		got := map[string]int{}
		for _, r := range attachments(t, sim) {
			for _, a := range r.Attachments {
				if want[strings.TrimSuffix(a.Name, path.Ext(a.Name))] == r.InteractionID {
					got[strings.TrimSuffix(a.Name, path.Ext(a.Name))]++
				}
			}
		}
		done := len(got) == n
		for _, c := range got {
			done = done && c == 1
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attachments after A's restart = %v, want each of %d recordings once", got, n)
		}
		<-tick.C
	}
	stored := map[string]int{}
	for _, o := range listObjects(t, sim) {
		stored[strings.TrimSuffix(path.Base(o.Name), path.Ext(o.Name))]++
	}
	for rec := range want {
		if stored[rec] != 1 {
			t.Errorf("recording %s stored %d times, want 1", rec, stored[rec])
		}
	}
}
