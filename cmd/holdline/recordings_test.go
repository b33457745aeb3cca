package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The real-binary recording tests: a holdline-sim process holds the CRM
// ledger and the GCS emulator (whose objects live in its memory, not the
// sidecar's), and a `holdline serve --dev --sim` process takes uploads.

const recTestToken = "recordings-test-admin-token-0123456789"

// simProc is a running holdline-sim with its CRM and GCS addresses.
type simProc struct {
	*proc
	crm, gcs, bucket string
}

func startSimProc(t *testing.T, logDir string) *simProc {
	t.Helper()
	p := startProc(t, buildHoldlineSim(t), filepath.Join(logDir, "sim.log"), nil, "--listen", "127.0.0.1:0")
	m := p.waitFor(t, regexp.MustCompile(`CRM simulator on (http://\S+)[\s\S]*GCS emulator on (http://\S+) \(bucket (\S+):`))
	return &simProc{proc: p, crm: m[1], gcs: m[2], bucket: m[3]}
}

// sidecarProc is a running `holdline serve --dev --sim`.
type sidecarProc struct {
	*proc
	data, admin string
}

func startSidecarProc(t *testing.T, bin, logFile string, sim *simProc, dataDir string) *sidecarProc {
	t.Helper()
	p := startProc(t, bin, logFile, []string{"HOLDLINE_ADMIN_TOKEN=" + recTestToken},
		"serve", "--dev", "--sim", sim.crm, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	m := p.waitFor(t, regexp.MustCompile(`data plane\s+(http://\S+)[\s\S]*admin plane\s+(http://\S+)`))
	waitReady(t, m[2])
	return &sidecarProc{proc: p, data: m[1], admin: m[2]}
}

// memStatus reads a size field (VmHWM, VmRSS) of /proc/PID/status in bytes.
func memStatus(t *testing.T, pid int, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %v", pid, key, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, key)
	return 0
}

// audio is a recording's bytes: size bytes from a seeded stream, so that
// the test holds none of them and a retry sends the same ones.
type audio struct {
	seed uint64
	size int64
	crc  string // base64 big-endian CRC32C, as GCS shows it
	sha  string // hex SHA-256
}

func newAudio(seed uint64, size int64) audio {
	a := audio{seed: seed, size: size}
	crc, sha := crc32.New(crc32.MakeTable(crc32.Castagnoli)), sha256.New()
	if _, err := io.Copy(io.MultiWriter(crc, sha), a.reader()); err != nil {
		panic(err) // the stream cannot fail
	}
	a.crc = base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	a.sha = hex.EncodeToString(sha.Sum(nil))
	return a
}

func (a audio) reader() io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], a.seed)
	return io.LimitReader(rand.NewChaCha8(key), a.size)
}

func (a audio) reprDigest() string {
	sum, _ := hex.DecodeString(a.sha)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}

// uploadAnswer is a recording upload's answer body.
type uploadAnswer struct {
	RecordingID string `json:"recording_id"`
	Object      string `json:"object"`
	Size        int64  `json:"size"`
	CRC32C      string `json:"crc32c"`
	Stored      string `json:"stored"`
}

// upload POSTs a recording with its declared length and Repr-Digest. An
// error means no answer.
func upload(client *http.Client, data, interaction, recordingID string, a audio) (int, uploadAnswer, error) {
	req, err := http.NewRequest(http.MethodPost, data+"/v1/interactions/"+interaction+"/recordings", a.reader())
	if err != nil {
		return 0, uploadAnswer{}, err
	}
	req.ContentLength = a.size
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("X-Recording-Id", recordingID)
	req.Header.Set("Repr-Digest", a.reprDigest())
	resp, err := client.Do(req)
	if err != nil {
		return 0, uploadAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, uploadAnswer{}, err
	}
	var ans uploadAnswer
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(b, &ans); err != nil {
			return resp.StatusCode, ans, fmt.Errorf("answer %d is not JSON: %s", resp.StatusCode, b)
		}
	} else if resp.StatusCode < 500 {
		return resp.StatusCode, ans, fmt.Errorf("upload %s = %d %s", recordingID, resp.StatusCode, b)
	}
	return resp.StatusCode, ans, nil
}

// createRecord queues the interaction's CRM record; an error means no answer.
func createRecord(client *http.Client, data, interaction string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, data+"/v1/interactions/"+interaction+"/record",
		strings.NewReader(fmt.Sprintf(`{"subject":"Call %s","channel":"voice"}`, interaction)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", interaction+"-record")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return resp.StatusCode, fmt.Errorf("record %s = %d %s", interaction, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// gcsObject is an object as the emulator's JSON API lists it.
type gcsObject struct {
	Name     string            `json:"name"`
	Size     string            `json:"size"`
	CRC32C   string            `json:"crc32c"`
	Metadata map[string]string `json:"metadata"`
}

// listObjects lists every object in the sim's bucket.
func listObjects(t *testing.T, sim *simProc) []gcsObject {
	t.Helper()
	var all []gcsObject
	token := ""
	for {
		u := sim.gcs + "/storage/v1/b/" + sim.bucket + "/o?maxResults=1000"
		if token != "" {
			u += "&pageToken=" + url.QueryEscape(token)
		}
		resp, err := httpClient().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items         []gcsObject `json:"items"`
			NextPageToken string      `json:"nextPageToken"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("list %s: %d %v", sim.bucket, resp.StatusCode, err)
		}
		all = append(all, page.Items...)
		if token = page.NextPageToken; token == "" {
			return all
		}
	}
}

// attachedRecord is a CRM record with its attachments.
type attachedRecord struct {
	InteractionID string `json:"interaction_id"`
	Attachments   []struct {
		Name           string `json:"name"`
		Size           int64  `json:"size"`
		SHA256         string `json:"sha256"`
		IdempotencyKey string `json:"idempotency_key"`
	} `json:"attachments"`
}

func attachments(t *testing.T, sim *simProc) []attachedRecord {
	t.Helper()
	resp, err := httpClient().Get(sim.crm + "/dev/crm/records")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Records []attachedRecord `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatalf("GET /dev/crm/records: %v", err)
	}
	return l.Records
}

// addBlobFault makes every GCS request of the sidecar fail with 503 for d.
func addBlobFault(t *testing.T, admin string, d time.Duration) {
	t.Helper()
	body := fmt.Sprintf(`{"dependency":"blob","error_rate":1,"status":503,"duration":%q,"reason":"recordings crash test"}`, d)
	req, _ := http.NewRequest(http.MethodPost, admin+"/v1/admin/faults", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+recTestToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/admin/faults = %d %s", resp.StatusCode, b)
	}
}

// TestRecordingUploadMemoryIsFlat streams a 128 MiB recording through the
// real binary to the GCS emulator of a separate holdline-sim process,
// then lets the outbox attach it to the CRM (streamed back from GCS in
// 50 MB parts, so three of them), and checks that the sidecar's peak RSS
// (VmHWM) stays within 64 MiB of its idle peak: holding the whole
// recording, or two parts, would break that bound. HOLDLINE_SOAK=1 streams
// 256 MiB instead (the emulator's resumable uploads cost time quadratic in
// the size, so the default run keeps to the smallest size that still
// proves the point).
func TestRecordingUploadMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and streams 128 MiB; skipped with -short")
	}
	t.Parallel()
	const bound = 64 << 20
	size := int64(128 << 20)
	if os.Getenv("HOLDLINE_SOAK") == "1" {
		size = 256 << 20
	}
	recID := fmt.Sprintf("rec-%dmib", size>>20)
	bin := buildHoldline(t)
	logDir := t.TempDir()
	sim := startSimProc(t, logDir)
	sc := startSidecarProc(t, bin, filepath.Join(logDir, "sidecar.log"), sim, t.TempDir())
	client := &http.Client{Timeout: hangGuard}
	if code, err := createRecord(client, sc.data, "int-mem"); err != nil || (code != 201 && code != 202) {
		t.Fatalf("create record = %d, %v", code, err)
	}
	a := newAudio(uint64(size>>20), size)
	pid := sc.cmd.Process.Pid
	idleHWM, idleRSS := memStatus(t, pid, "VmHWM"), memStatus(t, pid, "VmRSS")

	start := time.Now()
	code, ans, err := upload(client, sc.data, "int-mem", recID, a)
	elapsed := time.Since(start)
	if err != nil || code != http.StatusCreated || ans.Size != size || ans.CRC32C != a.crc || ans.Stored != "gcs" {
		t.Fatalf("upload %d MiB = %d %+v, %v; want 201 stored in gcs, crc32c %s", size>>20, code, ans, err, a.crc)
	}
	uploadHWM := memStatus(t, pid, "VmHWM")

	// The attachment streams the object back out of GCS to the CRM.
	waitDrained(t, sc.admin, logDir)
	attachedHWM := memStatus(t, pid, "VmHWM")
	t.Logf("%d MiB uploaded in %v (%.0f MiB/s); sidecar RSS idle %d MiB (VmHWM %d MiB) -> VmHWM %d MiB after the upload, %d MiB after the CRM attachment",
		size>>20, elapsed.Round(time.Millisecond), float64(size>>20)/elapsed.Seconds(), idleRSS>>20, idleHWM>>20, uploadHWM>>20, attachedHWM>>20)

	var objects []gcsObject
	for _, o := range listObjects(t, sim) {
		if o.Metadata["recording_id"] == recID {
			objects = append(objects, o)
		}
	}
	if len(objects) != 1 || objects[0].Size != strconv.FormatInt(size, 10) || objects[0].CRC32C != a.crc || objects[0].Metadata["sha256"] != a.sha {
		t.Errorf("the sim's bucket holds %+v, want one %d MiB object with crc32c %s", objects, size>>20, a.crc)
	}
	var parts, bytes int64
	for _, r := range attachments(t, sim) {
		if r.InteractionID == "int-mem" {
			for _, at := range r.Attachments {
				parts++
				bytes += at.Size
			}
		}
	}
	if want := (size + 50_000_000 - 1) / 50_000_000; bytes != size || parts != want {
		t.Errorf("the CRM holds %d bytes in %d attachment parts, want %d in %d", bytes, parts, size, want)
	}
	if uploadHWM > idleHWM+bound {
		t.Errorf("peak RSS grew by %d MiB during the upload, want at most %d MiB", (uploadHWM-idleHWM)>>20, bound>>20)
	}
	if attachedHWM > idleHWM+bound {
		t.Errorf("peak RSS grew by %d MiB by the end of the attachment, want at most %d MiB", (attachedHWM-idleHWM)>>20, bound>>20)
	}
	sc.term(t)
}

// TestCrashKeepsEveryRecordingOnce kills the real binary with SIGKILL while
// recordings upload to GCS, while they spool (a drill fault fails every GCS
// request) and while the spool drains, restarting it on the same
// --data-dir each time. Clients retry uploads that got no answer with the
// same X-Recording-Id. Once the outbox drains, every recording must be in
// the sim's bucket exactly once with its size, CRC32C and SHA-256, and
// attached to its CRM record exactly once.
func TestCrashKeepsEveryRecordingOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it; skipped with -short")
	}
	t.Parallel()
	const (
		interactions = 40 // 1 or 2 recordings each: 60 recordings
		clients      = 8
	)
	bin := buildHoldline(t)
	logDir := t.TempDir()
	started := time.Now()
	sim := startSimProc(t, logDir)
	dataDir := t.TempDir()

	type recording struct {
		interaction, id string
		audio
	}
	rng := rand.New(rand.NewPCG(5, 9))
	plan := make([][]recording, interactions)
	total := 0
	var totalBytes int64
	for i := range plan {
		id := fmt.Sprintf("crash-rec-%03d", i)
		for r := range i%2 + 1 {
			size := 256<<10 + rng.Int64N(4<<20)
			plan[i] = append(plan[i], recording{interaction: id, id: fmt.Sprintf("%s-%d", id, r+1), audio: newAudio(uint64(i*10+r), size)})
			total++
			totalBytes += size
		}
	}

	var mu sync.Mutex // guards sc, restarts
	var sc *sidecarProc
	restarts := 0
	var dataURL atomic.Value
	var faultOn atomic.Bool
	start := func() {
		mu.Lock()
		n := restarts
		restarts++
		mu.Unlock()
		p := startSidecarProc(t, bin, filepath.Join(logDir, fmt.Sprintf("sidecar-%d.log", n)), sim, dataDir)
		if faultOn.Load() {
			addBlobFault(t, p.admin, time.Minute)
		}
		mu.Lock()
		sc = p
		mu.Unlock()
		dataURL.Store(p.data)
	}
	current := func() *sidecarProc {
		mu.Lock()
		defer mu.Unlock()
		return sc
	}
	start()

	var accepted, created, spooled, replayed, retries atomic.Int64
	var clientErr atomic.Value
	client := &http.Client{Timeout: 30 * time.Second}
	// retry paces the next attempt; false once the test has ended.
	retry := func() bool {
		retries.Add(1)
		return pause(t, 20*time.Millisecond)
	}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < interactions; i = int(next.Add(1) - 1) {
				for {
					code, err := createRecord(client, dataURL.Load().(string), plan[i][0].interaction)
					if code >= 400 && code < 500 {
						clientErr.Store(err)
						return
					}
					if code == 201 || code == 202 {
						break
					}
					if !retry() {
						return
					}
				}
				for _, r := range plan[i] {
					for {
						code, ans, err := upload(client, dataURL.Load().(string), r.interaction, r.id, r.audio)
						if (code >= 400 && code < 500) || (code >= 200 && code < 300 && (ans.Size != r.size || ans.CRC32C != r.crc)) {
							clientErr.Store(fmt.Errorf("%s: %d %+v, %v (want size %d crc32c %s)", r.id, code, ans, err, r.size, r.crc))
							return
						}
						if code == 201 || code == 202 || code == 200 {
							accepted.Add(1)
							switch code {
							case 201:
								created.Add(1)
							case 202:
								spooled.Add(1)
							default:
								replayed.Add(1)
							}
							break
						}
						// No answer (killed, restarting) or 5xx: same X-Recording-Id again.
						if !retry() {
							return
						}
					}
				}
			}
		})
	}

	// Kill during uploads to GCS, then fail GCS and kill while spooling.
	kills, killed := map[string]int{}, 0
	kill := func(phase string) {
		current().kill(t)
		kills[phase]++
		killed++
		t.Logf("kill %d (%s): %d of %d recordings accepted, %d objects stored", killed, phase, accepted.Load(), total, len(listObjects(t, sim)))
	}
	// waitAccepted waits for a fraction of the recordings to be accepted,
	// then a random moment: wall time decides only when the next kill
	// lands, never whether the test passes.
	waitAccepted := func(frac float64) {
		waitUntil(t, fmt.Sprintf("%.0f%% of the recordings accepted", frac*100), func() (bool, string) {
			if err := clientErr.Load(); err != nil {
				t.Fatalf("an upload was refused: %v; logs in %s", err, logDir)
			}
			return float64(accepted.Load()) >= frac*float64(total), fmt.Sprintf("%d of %d accepted; logs in %s", accepted.Load(), total, logDir)
		})
		pause(t, time.Duration(rng.IntN(150))*time.Millisecond)
	}
	for _, at := range []float64{0.15, 0.35} {
		waitAccepted(at)
		kill("upload")
		start()
	}
	waitAccepted(0.45)
	faultOn.Store(true)
	addBlobFault(t, current().admin, time.Minute)
	for _, at := range []float64{0.65, 0.85} {
		waitAccepted(at)
		kill("spool")
		start()
	}
	waitGroup(t, "every recording accepted", &wg, func() string {
		return fmt.Sprintf("%d of %d accepted; logs in %s", accepted.Load(), total, logDir)
	})
	if err := clientErr.Load(); err != nil {
		t.Fatalf("an upload was refused: %v; logs in %s", err, logDir)
	}
	t.Logf("%d recordings (%d MiB) accepted: %d stored (201), %d spooled (202), %d replays (200) after %d retried sends, in %v",
		accepted.Load(), totalBytes>>20, created.Load(), spooled.Load(), replayed.Load(), retries.Load(), time.Since(started).Round(time.Millisecond))

	// Kill with the spool full and GCS failing, then restart with GCS
	// back (a fresh breaker) and kill again while the spool drains.
	kill("spool")
	faultOn.Store(false)
	for range 2 {
		before := len(listObjects(t, sim))
		if before >= total {
			break
		}
		start()
		waitUntil(t, "the spool to start draining", func() (bool, string) {
			n := len(listObjects(t, sim))
			return n > before, fmt.Sprintf("%d objects stored, as before the restart; logs in %s", n, logDir)
		})
		pause(t, time.Duration(rng.IntN(40))*time.Millisecond)
		if n := len(listObjects(t, sim)); n < total {
			kill("drain")
		} else {
			t.Logf("the spool drained before the kill (%d objects)", n)
		}
	}
	start()

	drainStart := time.Now()
	waitDrained(t, current().admin, logDir)
	t.Logf("outbox drained in %v after the last restart", time.Since(drainStart).Round(time.Millisecond))

	// Every recording is stored exactly once, with its bytes.
	objects := map[string][]gcsObject{}
	for _, o := range listObjects(t, sim) {
		objects[o.Metadata["recording_id"]] = append(objects[o.Metadata["recording_id"]], o)
	}
	attached := map[string][]string{} // recording id -> idempotency keys
	recordsPer := map[string]int{}
	for _, r := range attachments(t, sim) {
		if !strings.HasPrefix(r.InteractionID, "crash-rec-") {
			continue
		}
		recordsPer[r.InteractionID]++
		for _, a := range r.Attachments {
			rec, _, _ := strings.Cut(strings.TrimPrefix(a.IdempotencyKey, "attach:"), ":part")
			attached[rec] = append(attached[rec], fmt.Sprintf("%s %d %s", a.IdempotencyKey, a.Size, a.SHA256))
		}
	}
	bad := 0
	for _, recs := range plan {
		if n := recordsPer[recs[0].interaction]; n != 1 {
			t.Errorf("%s: %d CRM records, want 1", recs[0].interaction, n)
			bad++
		}
		for _, r := range recs {
			objs := objects[r.id]
			delete(objects, r.id)
			switch {
			case len(objs) != 1:
				t.Errorf("%s: %d objects in the bucket, want 1: %+v", r.id, len(objs), objs)
				bad++
			case objs[0].Size != strconv.FormatInt(r.size, 10) || objs[0].CRC32C != r.crc || objs[0].Metadata["sha256"] != r.sha ||
				objs[0].Metadata["interaction_id"] != r.interaction || !strings.HasSuffix(objs[0].Name, "/"+r.interaction+"/"+r.id+".wav"):
				t.Errorf("%s: stored %+v, want %d bytes, crc32c %s, sha256 %s", r.id, objs[0], r.size, r.crc, r.sha)
				bad++
			}
			want := fmt.Sprintf("attach:%s:part1 %d %s", r.id, r.size, r.sha)
			if got := attached[r.id]; len(got) != 1 || got[0] != want {
				t.Errorf("%s: CRM attachments %q, want [%q]", r.id, got, want)
				bad++
			}
			if bad > 10 {
				t.Fatalf("too many mismatches; logs in %s", logDir)
			}
		}
	}
	for id, objs := range objects {
		t.Errorf("unexpected object(s) for recording %q: %+v", id, objs)
	}
	// A kill between a spool file's commit and its job's enqueue orphans
	// the file (the client's retry stores the recording anew). A start
	// moves such files to spool/orphaned only once they are older than
	// outbox.backoff.max_elapsed (24h), so after the drain the spool may
	// still hold them: each must be a copy of a recording stored and
	// attached above, never the only copy of one.
	if left, err := os.ReadDir(filepath.Join(dataDir, "spool")); err != nil {
		t.Errorf("read the spool: %v", err)
	} else {
		for _, e := range left {
			id, _, _ := strings.Cut(e.Name(), ".")
			if e.Name() != "orphaned" && len(attached[id]) != 1 {
				t.Errorf("spool file %s left after the drain, and its recording is not attached once: %q", e.Name(), attached[id])
			}
		}
	}
	if orphans, err := os.ReadDir(filepath.Join(dataDir, "spool", "orphaned")); err == nil {
		t.Logf("%d never-acknowledged spool file(s) moved aside at restarts", len(orphans))
	}
	current().term(t)
	t.Logf("%d recordings in the bucket once and attached once after %d kills (%v); whole test took %v",
		total, killed, kills, time.Since(started).Round(time.Millisecond))
}

// TestServeDevStoresRecordingsInTheSim runs a holdline-sim process and
// `holdline serve --dev --sim` in-process: the sim names its GCS emulator
// at GET /dev/sim, and the sidecar stores recordings there, not in its
// own directory store.
func TestServeDevStoresRecordingsInTheSim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	t.Parallel()
	sim := startSimProc(t, t.TempDir())

	resp, err := httpClient().Get(sim.crm + "/dev/sim")
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ CRM, GCS, Bucket string }
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || info.CRM != sim.crm || info.GCS != sim.gcs || info.Bucket != "holdline-dev" {
		t.Fatalf("GET /dev/sim = %+v, %v; want crm %s, gcs %s, bucket holdline-dev", info, err, sim.crm, sim.gcs)
	}

	d := startDev(t, "--sim", sim.crm)
	client := httpClient()
	if code, err := createRecord(client, d.data, "int-sim"); err != nil || (code != 201 && code != 202) {
		t.Fatalf("create record = %d, %v", code, err)
	}
	a := newAudio(1, 600<<10)
	code, ans, err := upload(client, d.data, "int-sim", "rec-sim", a)
	if err != nil || code != http.StatusCreated || ans.Stored != "gcs" || !strings.HasPrefix(ans.Object, "gs://holdline-dev/") {
		t.Fatalf("upload = %d %+v, %v; want 201 stored in gs://holdline-dev", code, ans, err)
	}
	objs := listObjects(t, sim)
	if len(objs) != 1 || objs[0].Metadata["recording_id"] != "rec-sim" || objs[0].CRC32C != a.crc {
		t.Errorf("the sim's bucket holds %+v, want rec-sim with crc32c %s", objs, a.crc)
	}
}

// TestServeDevStoresRecordingsInADir: without --sim, a dev sidecar stores
// recordings in a directory under its data dir (it runs no GCS emulator:
// that is not linked into the binary).
func TestServeDevStoresRecordingsInADir(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDev(t, "--data-dir", dataDir)
	client := httpClient()
	if code, err := createRecord(client, d.data, "int-dir"); err != nil || (code != 201 && code != 202) {
		t.Fatalf("create record = %d, %v", code, err)
	}
	a := newAudio(2, 300<<10)
	code, ans, err := upload(client, d.data, "int-dir", "rec-dir", a)
	if err != nil || code != http.StatusCreated || ans.Stored != "dir" || ans.CRC32C != a.crc {
		t.Fatalf("upload = %d %+v, %v; want 201 stored in dir, crc32c %s", code, ans, err, a.crc)
	}
	u, err := url.Parse(ans.Object)
	if err != nil || u.Scheme != "file" || !strings.HasPrefix(u.Path, filepath.Join(dataDir, "recordings")+"/") {
		t.Fatalf("object = %q, want a file under %s", ans.Object, filepath.Join(dataDir, "recordings"))
	}
	f, err := os.Open(u.Path)
	if err != nil {
		t.Fatalf("the stored object: %v", err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != a.sha {
		t.Errorf("the file at %s has sha-256 %s, want the uploaded recording's %s", u.Path, got, a.sha)
	}
}
