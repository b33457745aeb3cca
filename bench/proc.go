package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is a child process the harness started: a proxy, an upstream, or
// holdline itself. Its CPU time and memory are read from /proc, so they
// are separable from the load generator's.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

// lockedBuffer keeps the last output of a child for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProc starts path with args in dir (or the current directory when
// dir is empty). The process runs until stop.
func startProc(name, dir, path string, args ...string) (*proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// pid returns the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has already exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 5s, then kills. It returns the output
// tail when the child had exited on its own before.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cpu returns the user+system CPU time the child and its live
// descendants (nginx's worker) have used so far.
func (p *proc) cpu() time.Duration {
	var total time.Duration
	for _, pid := range procTree(p.pid()) {
		total += procCPU(pid)
	}
	return total
}

// procTree returns pid and its live descendants, from
// /proc/PID/task/TID/children.
func procTree(pid int) []int {
	out := []int{pid}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, procTree(c)...)
			}
		}
	}
	return out
}

// procCPU reads utime+stime of pid from /proc/PID/stat; 0 if unreadable.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// memory returns the resident set size and its peak (VmRSS and VmHWM),
// in bytes, of the child and its live descendants.
func (p *proc) memory() (rss, hwm int64) {
	for _, pid := range procTree(p.pid()) {
		r, h := procMemory(pid)
		rss, hwm = rss+r, hwm+h
	}
	return rss, hwm
}

// memoryParts returns the child's resident memory split into anonymous
// (heap, stacks, runtime) and file-backed (the binary's pages, mmapped
// files such as the outbox), from /proc/PID/status.
func (p *proc) memoryParts() (anon, file int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "RssAnon":
			anon = n << 10
		case "RssFile":
			file = n << 10
		}
	}
	return anon, file
}

func procMemory(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// selfCPU returns the harness's own user+system CPU time (the load
// generator and anything run in-process).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers want, the child exits, or timeout.
func waitHTTP(ctx context.Context, p *proc, url string, want int, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.out.String(), 2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s did not answer %d within %v (last error %v)", nameOf(p), url, want, timeout, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHTTPFast polls url every millisecond until it answers 200 (cold
// start timing).
func waitHTTPFast(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.out.String(), 2000))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %s not ready within %v", p.name, url, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitTCP polls addr until it accepts a connection.
func waitTCP(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.out.String(), 2000))
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("%s: %s not listening after %v", nameOf(p), addr, timeout), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func nameOf(p *proc) string {
	if p == nil {
		return "?"
	}
	return p.name
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// cpuMeter snapshots the CPU time of the harness and a set of children,
// so a run's CPU use per process is the difference of two snapshots.
type cpuMeter struct {
	procs map[string]*proc
	start map[string]time.Duration
}

func newCPUMeter(procs ...*proc) *cpuMeter {
	m := &cpuMeter{procs: map[string]*proc{}}
	for _, p := range procs {
		if p != nil {
			m.procs[p.name] = p
		}
	}
	m.start = m.read()
	return m
}

func (m *cpuMeter) read() map[string]time.Duration {
	out := map[string]time.Duration{"harness": selfCPU()}
	for name, p := range m.procs {
		out[name] = p.cpu()
	}
	return out
}

// since returns CPU seconds used per process since newCPUMeter.
func (m *cpuMeter) since() map[string]float64 {
	now := m.read()
	out := map[string]float64{}
	for k, v := range now {
		out[k] = (v - m.start[k]).Seconds()
	}
	return out
}
