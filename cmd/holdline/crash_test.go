package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashReplaysEveryWriteExactlyOnce runs the real binary: a `holdline
// sim` process keeps the CRM ledger while a `holdline serve --dev --sim`
// process takes interaction writes and is killed with SIGKILL several times,
// restarted on the same --data-dir each time. Clients retry writes that got
// no answer with the same Idempotency-Key, as real clients do. Once the CRM
// recovers and the outbox drains, every accepted write must be in the
// ledger exactly once, in order per interaction.
//
// The CRM fails every write (503) during the first kills and flaps during
// the later ones, so that some kills land between the CRM's answer and the
// outbox recording it: the replay after restart must then be deduplicated
// by the idempotency key.
func TestCrashReplaysEveryWriteExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it; skipped with -short")
	}
	t.Parallel()
	const (
		interactions = 180 // 1 record and 1-3 comments each: 540 writes
		clients      = 16
		token        = "crash-test-admin-token-0123456789"
	)
	bin := buildHoldline(t)
	logDir := t.TempDir()
	started := time.Now()

	simProc := startProc(t, buildHoldlineSim(t), filepath.Join(logDir, "sim.log"), nil, "--listen", "127.0.0.1:0")
	simURL := simProc.waitFor(t, regexp.MustCompile(`CRM simulator on (http://\S+)`))[1]
	setMode(t, simURL, `{"mode":"503","scope":"write"}`)

	dataDir := t.TempDir()
	var mu sync.Mutex // guards sidecar
	var sidecar *proc
	var dataURL atomic.Value
	var adminURL string
	startSidecar := func(n int) {
		p := startProc(t, bin, filepath.Join(logDir, fmt.Sprintf("sidecar-%d.log", n)), []string{"HOLDLINE_ADMIN_TOKEN=" + token},
			"serve", "--dev", "--sim", simURL, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
		m := p.waitFor(t, regexp.MustCompile(`data plane\s+(http://\S+)[\s\S]*admin plane\s+(http://\S+)`))
		waitReady(t, m[2])
		mu.Lock()
		sidecar, adminURL = p, m[2]
		mu.Unlock()
		dataURL.Store(m[1])
	}
	startSidecar(0)

	// The writes: interaction i gets its record, then 1-3 comments, each
	// sent only after the previous one was accepted.
	type write struct {
		path, key, body string
		comment         string // the comment's body, "" for the record
	}
	plan := make([][]write, interactions)
	total := 0
	for i := range plan {
		id := fmt.Sprintf("crash-%03d", i)
		plan[i] = append(plan[i], write{path: "/v1/interactions/" + id + "/record", key: id + "-record",
			body: fmt.Sprintf(`{"subject":"Call %s","description":"crash test","channel":"voice"}`, id)})
		for c := range i%3 + 1 {
			text := fmt.Sprintf("%s comment %d", id, c+1)
			plan[i] = append(plan[i], write{path: "/v1/interactions/" + id + "/comments", key: fmt.Sprintf("%s-comment-%d", id, c+1),
				body: fmt.Sprintf(`{"body":%q,"author":"agent-%d"}`, text, i%7), comment: text})
		}
		total += len(plan[i])
	}

	var accepted, created, queued, retries atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	send := func(w write) (int, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, dataURL.Load().(string)+w.path, strings.NewReader(w.body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", w.key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return resp.StatusCode, fmt.Errorf("POST %s = %d %s", w.path, resp.StatusCode, b)
		}
		return resp.StatusCode, nil
	}
	var wg sync.WaitGroup
	var clientErr atomic.Value
	next := atomic.Int64{}
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < interactions; i = int(next.Add(1) - 1) {
				for _, w := range plan[i] {
					for {
						code, err := send(w)
						if code >= 400 && code < 500 {
							clientErr.Store(err)
							return
						}
						if code == http.StatusCreated || code == http.StatusAccepted {
							accepted.Add(1)
							if code == http.StatusCreated {
								created.Add(1)
							} else {
								queued.Add(1)
							}
							break
						}
						// No answer (killed, restarting) or 5xx: same key
						// again, until the test ends.
						retries.Add(1)
						if !pause(t, 20*time.Millisecond) {
							return
						}
					}
				}
			}
		})
	}

	// Kill the sidecar at random moments as the writes progress: wall
	// time decides only when a kill lands, never whether the test passes.
	rng := rand.New(rand.NewPCG(4, 2))
	kills := 0
	for k, at := range []float64{0.15, 0.35, 0.55, 0.75} {
		if k == 2 {
			setMode(t, simURL, `{"mode":"flap","scope":"write","flap_rate":0.5,"seed":7}`)
		}
		waitUntil(t, fmt.Sprintf("%.0f%% of the writes accepted", at*100), func() (bool, string) {
			if err := clientErr.Load(); err != nil {
				t.Fatalf("a write was refused: %v; logs in %s", err, logDir)
			}
			return float64(accepted.Load()) >= at*float64(total), fmt.Sprintf("%d of %d accepted; logs in %s", accepted.Load(), total, logDir)
		})
		pause(t, time.Duration(rng.IntN(150))*time.Millisecond)
		mu.Lock()
		p := sidecar
		mu.Unlock()
		p.kill(t)
		kills++
		t.Logf("kill %d: %d of %d writes accepted, %d records in the CRM", kills, accepted.Load(), total, len(crmLedger(t, simURL)))
		startSidecar(k + 1)
	}
	waitGroup(t, "every write accepted", &wg, func() string {
		return fmt.Sprintf("%d of %d accepted; logs in %s", accepted.Load(), total, logDir)
	})
	if err := clientErr.Load(); err != nil {
		t.Fatalf("a write was refused: %v", err)
	}
	t.Logf("%d writes accepted (%d created, %d queued, %d retried sends) across %d kills in %v",
		accepted.Load(), created.Load(), queued.Load(), retries.Load(), kills, time.Since(started).Round(time.Millisecond))

	// The CRM recovers; the outbox drains.
	setMode(t, simURL, `{"mode":"ok"}`)
	drainStart := time.Now()
	waitDrained(t, adminURL, logDir)
	t.Logf("outbox drained in %v", time.Since(drainStart).Round(time.Millisecond))

	// Every accepted write is in the ledger exactly once, in order.
	ledger := crmLedger(t, simURL)
	byInteraction := map[string][]ledgerRecord{}
	for _, r := range ledger {
		if strings.HasPrefix(r.InteractionID, "crash-") {
			byInteraction[r.InteractionID] = append(byInteraction[r.InteractionID], r)
		}
	}
	bad := 0
	for i, writes := range plan {
		id := fmt.Sprintf("crash-%03d", i)
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
		if strings.Join(got, "|") != strings.Join(want, "|") {
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
	mu.Lock()
	p := sidecar
	mu.Unlock()
	p.term(t)
	t.Logf("whole test took %v", time.Since(started).Round(time.Millisecond))
}

// proc is a child process whose stdout is kept for its banner and whose
// stderr goes to a log file.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	done   chan struct{}
}

func startProc(t *testing.T, bin, logFile string, env []string, args ...string) *proc {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	p := &proc{cmd: exec.Command(bin, args...), stdout: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, log
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// waitFor waits for re to match the process's stdout.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	waitUntil(t, fmt.Sprintf("%q on the stdout of %v", re, p.cmd.Args), func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("%v exited early; stdout: %s", p.cmd.Args, p.stdout.String())
		default:
		}
		m = re.FindStringSubmatch(p.stdout.String())
		return m != nil, p.stdout.String()
	})
	return m
}

// kill sends SIGKILL (no drain, no deferred close) and waits for the exit.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term stops the process as an orchestrator would, with SIGTERM.
func (p *proc) term(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(hangGuard):
		t.Errorf("%v did not stop within %v of SIGTERM (hang guard)", p.cmd.Args, hangGuard)
		p.kill(t)
	}
}

// waitReady waits for admin/readyz to answer 200.
func waitReady(t *testing.T, admin string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	waitUntil(t, admin+"/readyz to answer 200", func() (bool, string) {
		resp, err := client.Get(admin + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// waitDrained waits until the outbox behind admin has nothing pending or
// in flight, and fails if it then holds dead jobs.
func waitDrained(t *testing.T, admin, logDir string) {
	t.Helper()
	var st outboxCounts
	waitUntil(t, "the outbox to drain", func() (bool, string) {
		st = outboxStatus(t, admin)
		return st.Pending+st.Inflight == 0, fmt.Sprintf("%+v; logs in %s", st, logDir)
	})
	if st.Dead != 0 {
		t.Fatalf("outbox drained with %d dead jobs; logs in %s", st.Dead, logDir)
	}
}

func setMode(t *testing.T, simURL, mode string) {
	t.Helper()
	resp, err := httpClient().Post(simURL+"/dev/crm/mode", "application/json", bytes.NewBufferString(mode))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /dev/crm/mode %s = %d", mode, resp.StatusCode)
	}
}

type outboxCounts struct {
	Pending  int `json:"pending"`
	Inflight int `json:"inflight"`
	Dead     int `json:"dead"`
	Blocked  int `json:"blocked"`
}

func outboxStatus(t *testing.T, admin string) outboxCounts {
	t.Helper()
	resp, err := httpClient().Get(admin + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Outbox outboxCounts `json:"outbox"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /v1/status: %v", err)
	}
	return st.Outbox
}

type ledgerRecord struct {
	ID            string `json:"record_id"`
	InteractionID string `json:"interaction_id"`
	Comments      []struct {
		Body string `json:"body"`
	} `json:"comments"`
}

func crmLedger(t *testing.T, simURL string) []ledgerRecord {
	t.Helper()
	resp, err := httpClient().Get(simURL + "/dev/crm/records")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Records []ledgerRecord `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatalf("GET /dev/crm/records: %v", err)
	}
	return l.Records
}
