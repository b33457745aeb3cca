package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Fault modes of a simulator (CRMMode.Kind).
const (
	// ModeOK answers normally.
	ModeOK = "ok"
	// ModeHang holds the request until the client gives up or HangMax
	// passes, then answers 504.
	ModeHang = "hang"
	// Mode503 answers 503, with Retry-After when RetryAfter is set.
	Mode503 = "503"
	// ModeFlap answers 503 to a FlapRate fraction of requests, chosen by a
	// generator seeded with Seed, so a run is reproducible.
	ModeFlap = "flap"
	// ModeReset drops the connection (a TCP reset) without answering.
	ModeReset = "reset"
	// ModeLoseAnswer carries the request out and then drops the connection
	// instead of answering: the write happened but the client never hears
	// of it, as when a response is lost on the way back. A correct client
	// replays with the same idempotency key and creates nothing new.
	ModeLoseAnswer = "lose_answer"
)

// Fault scopes (CRMMode.Scope).
const (
	ScopeAll   = "all"
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// CRMMode is the fault mode of a CRM simulator. In JSON (POST
// /dev/crm/mode) durations are strings such as "250ms".
type CRMMode struct {
	// Kind is ok (default), hang, 503, flap or reset.
	Kind string
	// Scope limits the fault and the latency to reads or writes. Default all.
	Scope string
	// Latency delays every request in scope before the fault applies.
	Latency time.Duration
	// HangMax bounds a hang. Default 10s.
	HangMax time.Duration
	// RetryAfter, when set, is sent as Retry-After (whole seconds) on 503s.
	RetryAfter time.Duration
	// FlapRate is the fraction of requests that fail in flap mode.
	// Default 0.5.
	FlapRate float64
	// Seed seeds flap mode's generator.
	Seed uint64
	// Routes, when set, limits the fault and the latency to requests of
	// these route names (the keys of CRM.Hits, such as
	// "zendesk.update_ticket"); other requests are answered normally.
	Routes []string
}

type crmModeJSON struct {
	Mode       string   `json:"mode"`
	Scope      string   `json:"scope,omitempty"`
	Latency    string   `json:"latency,omitempty"`
	HangMax    string   `json:"hang_max,omitempty"`
	RetryAfter string   `json:"retry_after,omitempty"`
	FlapRate   float64  `json:"flap_rate,omitempty"`
	Seed       uint64   `json:"seed,omitempty"`
	Routes     []string `json:"routes,omitempty"`
}

// MarshalJSON writes the mode with durations as strings.
func (m CRMMode) MarshalJSON() ([]byte, error) {
	d := func(v time.Duration) string {
		if v == 0 {
			return ""
		}
		return v.String()
	}
	return json.Marshal(crmModeJSON{
		Mode: m.Kind, Scope: m.Scope, Latency: d(m.Latency), HangMax: d(m.HangMax),
		RetryAfter: d(m.RetryAfter), FlapRate: m.FlapRate, Seed: m.Seed, Routes: m.Routes,
	})
}

// UnmarshalJSON reads the mode with durations as strings.
func (m *CRMMode) UnmarshalJSON(b []byte) error {
	var j crmModeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := CRMMode{Kind: j.Mode, Scope: j.Scope, FlapRate: j.FlapRate, Seed: j.Seed, Routes: j.Routes}
	var errs []error
	for _, f := range []struct {
		name string
		s    string
		d    *time.Duration
	}{{"latency", j.Latency, &out.Latency}, {"hang_max", j.HangMax, &out.HangMax}, {"retry_after", j.RetryAfter, &out.RetryAfter}} {
		if f.s == "" {
			continue
		}
		v, err := time.ParseDuration(f.s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
		*f.d = v
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	*m = out
	return nil
}

// validate fills defaults and reports every problem at once.
func (m *CRMMode) validate() error {
	var errs []error
	switch m.Kind {
	case "":
		m.Kind = ModeOK
	case ModeOK, ModeHang, Mode503, ModeFlap, ModeReset, ModeLoseAnswer:
	default:
		errs = append(errs, fmt.Errorf("mode: %q is not one of ok, hang, 503, flap, reset, lose_answer", m.Kind))
	}
	switch m.Scope {
	case "":
		m.Scope = ScopeAll
	case ScopeAll, ScopeRead, ScopeWrite:
	default:
		errs = append(errs, fmt.Errorf("scope: %q is not one of all, read, write", m.Scope))
	}
	if m.Latency < 0 || m.HangMax < 0 || m.RetryAfter < 0 {
		errs = append(errs, errors.New("latency, hang_max and retry_after must not be negative"))
	}
	if m.HangMax == 0 {
		m.HangMax = 10 * time.Second
	}
	if m.FlapRate < 0 || m.FlapRate > 1 {
		errs = append(errs, fmt.Errorf("flap_rate: %v is not within [0, 1]", m.FlapRate))
	}
	if m.FlapRate == 0 {
		m.FlapRate = 0.5
	}
	return errors.Join(errs...)
}

// SetMode changes the fault mode for requests that arrive from now on. It
// returns an error, and changes nothing, for an invalid mode.
func (c *CRM) SetMode(m CRMMode) error { return c.faults.set(m) }

// Mode returns the current fault mode with its defaults filled in.
func (c *CRM) Mode() CRMMode { return c.faults.get() }

// faults holds the current mode and flap mode's generator.
type faults struct {
	mu  sync.Mutex
	m   CRMMode
	rng *rand.Rand
}

func (f *faults) set(m CRMMode) error {
	if err := m.validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m = m
	f.rng = rand.New(rand.NewPCG(m.Seed, m.Seed^0x9e3779b97f4a7c15))
	return nil
}

func (f *faults) get() CRMMode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m
}

// flapFails draws from the flap generator.
func (f *faults) flapFails() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64() < f.m.FlapRate
}

// apply runs the current fault for one request of route name. It returns
// true when the handler should go on and answer; false when the fault has
// answered (or dropped) the request.
func (f *faults) apply(w http.ResponseWriter, r *http.Request, name string, write bool) bool {
	m := f.get()
	if !m.covers(name, write) {
		return true
	}
	if m.Latency > 0 && !sleep(r, m.Latency) {
		return false
	}
	switch m.Kind {
	case Mode503:
		unavailable(w, m)
		return false
	case ModeFlap:
		if f.flapFails() {
			unavailable(w, m)
			return false
		}
	case ModeHang:
		// Take the whole body first: net/http notices a client that went
		// away only once the body is read, so an unread upload would hang
		// past the client's deadline.
		_, _ = io.Copy(io.Discard, r.Body)
		if sleep(r, m.HangMax) {
			http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		}
		return false
	case ModeReset:
		reset(w)
		return false
	}
	return true
}

// covers reports whether the mode applies to a request of route name.
func (m CRMMode) covers(name string, write bool) bool {
	if m.Scope == ScopeRead && write || m.Scope == ScopeWrite && !write {
		return false
	}
	return len(m.Routes) == 0 || slices.Contains(m.Routes, name)
}

// losesAnswer reports whether the answer to a request of route name is to
// be dropped after the handler ran (ModeLoseAnswer).
func (f *faults) losesAnswer(name string, write bool) bool {
	m := f.get()
	return m.Kind == ModeLoseAnswer && m.covers(name, write)
}

// discard is a ResponseWriter that throws the answer away, for
// ModeLoseAnswer.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// sleep waits d or until the request is cancelled; it reports whether the
// whole d passed.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func unavailable(w http.ResponseWriter, m CRMMode) {
	if m.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((m.RetryAfter+time.Second-1)/time.Second)))
	}
	http.Error(w, "service unavailable", http.StatusServiceUnavailable)
}

// reset closes the connection with a TCP RST when it can hijack it, and
// otherwise aborts the handler so the server drops the stream.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
