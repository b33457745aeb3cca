package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Soak is the soak scenario (`make soak`, never part of the default
// run): the real binary under mixed traffic at a fixed rate for a long
// time while the CRM flaps between healthy and 503, its memory, heap,
// goroutines and open files sampled at a fixed interval. Memory that
// keeps growing after warm-up is a leak or an unbounded structure.
type Soak struct {
	Rate     int            `json:"rate"`
	Seconds  float64        `json:"seconds"`
	Every    float64        `json:"sample_every_s"`
	FlapS    float64        `json:"flap_every_s"`
	Mix      map[string]int `json:"mix_percent"`
	Samples  []SoakSample   `json:"samples"`
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	// Writes is how many new interactions the run wrote to.
	Writes int `json:"writes"`
	// InProcess: the sidecar ran inside the harness (-soak-heap), so RSS
	// includes the load generator.
	InProcess bool `json:"in_process,omitempty"`
}

// SoakSample is one reading of the sidecar.
type SoakSample struct {
	T   float64 `json:"t_s"`
	RSS int64   `json:"rss_bytes"`
	// RSSAnon is anonymous memory (the Go heap and stacks); RSSFile is
	// file pages mapped in, such as bbolt's memory-mapped outbox file.
	RSSAnon    int64 `json:"rss_anon_bytes"`
	RSSFile    int64 `json:"rss_file_bytes"`
	Heap       int64 `json:"heap_alloc_bytes"`
	HeapInuse  int64 `json:"heap_inuse_bytes"`
	Goroutines int   `json:"goroutines"`
	OpenFiles  int   `json:"open_files"`
	// OutboxFile is the size of the outbox's bbolt file (bbolt grows it
	// ahead, in steps) and OutboxUsed its pages up to the high-water mark
	// (pages holding data or free for reuse), read from the file's meta
	// page; they show how much of RSSFile's growth is the outbox.
	OutboxFile int64   `json:"outbox_file_bytes"`
	OutboxUsed int64   `json:"outbox_used_bytes"`
	CRM        string  `json:"crm"`
	Requests   int     `json:"requests"`
	OK         int     `json:"ok"`
	P99        float64 `json:"p99_ms"`
	// Errors are the interval's failures by message.
	Errors map[string]int `json:"errors,omitempty"`
}

func runSoak(ctx context.Context, e *env) (*Soak, error) {
	every, flap := 10*time.Second, 15*time.Second
	res := &Soak{Rate: e.soakRate, Seconds: e.soakDuration.Seconds(), Every: every.Seconds(), FlapS: flap.Seconds(),
		Mix: map[string]int{"screen pop, cache hit": 70, "screen pop, CRM lookup": 10, "CRM write (record, new interaction)": 10, "identity verify (JWT)": 10}}
	const contacts = 1000
	crmAddr, _ := freeAddr()
	idpAddr, _ := freeAddr()
	tokFile := filepath.Join(e.dir("deps"), "token")
	deps, err := e.child("crm-sim", "deps", crmAddr, idpAddr, fmt.Sprint(contacts), tokFile)
	if err != nil {
		return nil, err
	}
	defer deps.stop()
	crmURL := "http://" + crmAddr
	if err := waitHTTP(ctx, deps, crmURL+"/dev/crm/mode", 200, 10*time.Second); err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		return nil, err
	}
	opts := holdlineOpts{crmURL: crmURL, issuer: "http://" + idpAddr}
	var base, admin, dataDir string
	var memory func() int64
	pid := os.Getpid()
	if e.soakHeap != "" {
		// In process, for heap profiles: the figures then include the
		// load generator, but the profiles can be focused on holdline.
		sc, err := startInProcess(ctx, e, opts)
		if err != nil {
			return nil, err
		}
		defer sc.Stop()
		base, admin = "http://"+sc.Addr(), "http://"+sc.AdminAddr()
		memory = func() int64 { rss, _ := procMemory(pid); return rss }
		res.InProcess = true
		dataDir = filepath.Join(e.dir("inprocess"), "data")
	} else {
		hl, err := e.startHoldline(ctx, "holdline", opts)
		if err != nil {
			return nil, err
		}
		defer hl.stop()
		base, admin, pid = "http://"+hl.addr, "http://"+hl.admin, hl.pid()
		dataDir = filepath.Join(hl.dir, "data")
		memory = func() int64 { rss, _ := hl.memory(); return rss }
	}
	for i := range contacts {
		if _, err := screenPop(ctx, base, keyedPhone(i)); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, e.soakDuration)
	defer cancel()
	// The CRM flaps: healthy for flap, then 503 for flap, and so on.
	crmState := make(chan string, 1)
	crmState <- "ok"
	go func() {
		t := time.NewTicker(flap)
		defer t.Stop()
		down := false
		for {
			select {
			case <-sctx.Done():
				_, _ = post(context.Background(), crmURL+"/dev/crm/mode", `{"mode":"ok"}`, http.StatusOK)
				return
			case <-t.C:
			}
			down = !down
			mode, name := `{"mode":"ok"}`, "ok"
			if down {
				mode, name = `{"mode":"503"}`, "503"
			}
			if _, err := post(sctx, crmURL+"/dev/crm/mode", mode, http.StatusOK); err == nil {
				select {
				case <-crmState:
				default:
				}
				crmState <- name
			}
		}
	}()
	current := "ok"
	var misses phoneSeq
	misses.n.Store(7_000_000)
	tr := mixedTargeter(base, contacts, string(tok), &misses, 0)
	sample := func(l Latency) {
		select {
		case current = <-crmState:
		default:
		}
		s := SoakSample{T: time.Since(start).Seconds(), CRM: current, Requests: l.Requests, OK: l.OK, P99: l.P99, Errors: l.Errors}
		s.RSS = memory()
		s.RSSAnon, s.RSSFile = rssParts(pid)
		s.OutboxFile, s.OutboxUsed = boltUsage(filepath.Join(dataDir, "outbox.db"))
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			s.OpenFiles = len(ents)
		}
		if m, err := scrapeMetrics(ctx, admin+"/metrics", "go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines"); err == nil {
			s.Heap, s.HeapInuse, s.Goroutines = int64(m[0]), int64(m[1]), int(m[2])
		}
		res.Samples = append(res.Samples, s)
		if e.soakHeap != "" && len(res.Samples)%6 == 1 {
			runtime.GC()
			if f, err := os.Create(filepath.Join(e.soakHeap, fmt.Sprintf("heap-%04.0fs.pprof", s.T))); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
		res.Requests += l.Requests
		res.OK += l.OK
		e.logf("soak %5.0f s  RSS %6.1f MiB (anon %6.1f, file %6.1f)  outbox file %6.1f MiB (used %6.1f)  heap %6.1f MiB (in use %6.1f)  goroutines %4d  fds %3d  CRM %-3s  %d req (ok %d) p99 %.2f ms",
			s.T, float64(s.RSS)/(1<<20), mib(s.RSSAnon), mib(s.RSSFile), mib(s.OutboxFile), mib(s.OutboxUsed), float64(s.Heap)/(1<<20), float64(s.HeapInuse)/(1<<20), s.Goroutines, s.OpenFiles, s.CRM, l.Requests, l.OK, l.P99)
	}
	sample(Latency{})
	// One attacker for the whole run (one connection pool, as a client
	// holds); every interval's results are summarised at its sample.
	spec := attackSpec{name: "soak", targeter: tr, rate: res.Rate, okCodes: []int{200, 201, 202}}
	a := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second), vegeta.Workers(16), vegeta.MaxConnections(256))
	stop := context.AfterFunc(sctx, func() { a.Stop() })
	defer stop()
	next := start.Add(every)
	cur := newSummary(spec)
	for r := range a.Attack(tr, vegeta.Rate{Freq: res.Rate, Per: time.Second}, e.soakDuration, "soak") {
		cur.add(r)
		if time.Now().After(next) {
			sample(cur.latency(res.Rate))
			cur = newSummary(spec)
			next = next.Add(every)
		}
	}
	if cur.n > 0 {
		sample(cur.latency(res.Rate))
	}
	res.Writes = res.Requests / 10
	return res, ctx.Err()
}

// rssParts reads RssAnon and RssFile from /proc/PID/status.
func rssParts(pid int) (anon, file int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "RssAnon":
			anon = n << 10
		case "RssFile":
			file = n << 10
		}
	}
	return anon, file
}

// scrapeMetrics reads the named unlabelled series from a Prometheus
// text exposition.
func scrapeMetrics(ctx context.Context, url string, names ...string) ([]float64, error) {
	b, err := get(ctx, url)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(names))
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for i, n := range names {
			if name == n {
				out[i], _ = strconv.ParseFloat(strings.TrimSpace(val), 64)
			}
		}
	}
	return out, sc.Err()
}

// boltUsage returns the size of the bbolt file at path and the bytes up to
// its high-water mark (page count × page size, from the newer of its two
// meta pages). The file is read, not opened with bbolt: the sidecar holds
// its lock. Zero when the file cannot be read.
func boltUsage(path string) (size, used int64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0
	}
	size = fi.Size()
	// bbolt's meta pages are pages 0 and 1; each is a 16-byte page header
	// followed by the meta: magic, version, page size, flags, root bucket
	// (16), freelist page id, high-water page id, txid, checksum.
	var best struct{ txid, hwm, pageSize uint64 }
	for i := range 2 {
		buf := make([]byte, 16+64)
		off := int64(0)
		if i == 1 {
			if best.pageSize == 0 {
				break
			}
			off = int64(best.pageSize)
		}
		if _, err := f.ReadAt(buf, off); err != nil {
			break
		}
		m := buf[16:]
		if binary.LittleEndian.Uint32(m[0:]) != 0xED0CDAED {
			continue
		}
		ps := uint64(binary.LittleEndian.Uint32(m[8:]))
		hwm := binary.LittleEndian.Uint64(m[40:])
		txid := binary.LittleEndian.Uint64(m[48:])
		if best.pageSize == 0 || txid > best.txid {
			best.txid, best.hwm, best.pageSize = txid, hwm, ps
		}
	}
	return size, int64(best.hwm * best.pageSize)
}
