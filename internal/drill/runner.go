package drill

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
)

// Options say where the drill runs.
type Options struct {
	// Admin is the sidecar's admin URL, e.g. http://127.0.0.1:9901.
	Admin string
	// Target is the sidecar's data-plane URL, e.g. http://127.0.0.1:8080.
	Target string
	// Token is the admin token (faults, breakers, failover, audit).
	Token string
	// IdentityToken is the token identity checks verify. Empty: the drill
	// asks a dev sidecar's IdP simulator (/dev/idp/token) for one, and
	// otherwise sends a token the sidecar has never seen (its verdict,
	// inactive, still counts as an answer).
	IdentityToken string
	// Progress receives one line per phase and timeline action; nil is quiet.
	Progress io.Writer
	// SampleEvery is how often /v1/status is read (default 1s) and
	// ProbeEvery how often recovery probes are sent (default 500ms).
	SampleEvery, ProbeEvery time.Duration
	// Force runs the drill although the baseline is not clean (see
	// ErrDirty); the report says so (Report.Forced, Report.Dirty).
	Force bool
	// MaxBaselineErrorRate is the failure rate a dependency may have over
	// the last minute for the baseline to be clean. Default
	// DefaultMaxBaselineErrorRate.
	MaxBaselineErrorRate float64
}

// ErrSetup wraps the problems that stop a drill before it starts: the
// sidecar is unreachable, refuses the token or has drills disabled.
var ErrSetup = errors.New("drill cannot start")

// Run runs the scenario against the sidecar and returns the report. Its
// error is non-nil only when the drill could not start (ErrSetup) or was
// interrupted (ctx's error; the report is then partial). Whatever happens
// once it started, the faults it created are removed and the breakers and
// endpoints it changed are put back before Run returns.
func Run(ctx context.Context, s *Scenario, opts Options) (*Report, error) {
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = time.Second
	}
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = 500 * time.Millisecond
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "drill %s: %s\n", s.Name, fmt.Sprintf(format, args...))
		}
	}
	hc := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        s.MaxInFlight + 16,
		MaxIdleConnsPerHost: s.MaxInFlight + 16,
		IdleConnTimeout:     30 * time.Second,
	}}
	defer hc.CloseIdleConnections()
	admin, err := newAdminAPI(trimURL(opts.Admin), opts.Token, hc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	data := &api{base: trimURL(opts.Target), hc: hc}

	var rid [8]byte
	_, _ = rand.Read(rid[:])
	t := &target{
		api: data, runID: hex.EncodeToString(rid[:4]), scenario: s.Name, ledger: &ledger{},
		phoneOff: int64(binary.BigEndian.Uint32(rid[4:]) % 7_000_000), unavailable: map[Operation]string{},
	}
	initial, dirty, err := preflight(ctx, s, admin, t, opts)
	if err != nil {
		return nil, err
	}
	ctl := newControls(admin, s.Name, initial)
	sm := &sampler{admin: admin}
	pr := &prober{t: t, by: map[string][]probe{}}
	rep := &Report{Scenario: s.Name, Description: s.Description, Admin: admin.base, Target: data.base, RunID: t.runID, Started: time.Now(),
		Forced: len(dirty) > 0, Dirty: dirty}
	for _, d := range dirty {
		progress("forced past a dirty baseline: %s", d)
	}
	progress("run %s against %s (admin %s): %v at %g/s, then up to %v of recovery", t.runID, data.base, admin.base, s.Duration, s.Rate, s.Recovery)

	// Cleanup must run even when ctx is cancelled (Ctrl-C): that is when
	// it matters most, since a forgotten forced breaker or failover would
	// outlive the drill (faults expire by themselves, overrides do not).
	// So it gets a context of its own: detached from ctx's cancellation,
	// but short, so an unreachable sidecar cannot hold the terminal.
	var cleanupOnce sync.Once
	cleanup := func() {
		cleanupOnce.Do(func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			rep.Cleanup = ctl.cleanup(cctx)
			for _, c := range rep.Cleanup {
				progress("cleanup: %s", c)
			}
		})
	}
	defer cleanup()

	bg, stopBg := context.WithCancel(ctx)
	var bgWG sync.WaitGroup
	bgWG.Go(func() { sm.run(bg, opts.SampleEvery) })
	for _, dep := range probedDeps(s) {
		bgWG.Go(func() { pr.run(bg, dep, opts.ProbeEvery) })
	}
	stopBackground := sync.OnceFunc(func() { stopBg(); bgWG.Wait() })
	defer stopBackground()

	// Traffic and timeline.
	start := time.Now()
	rep.Started = start
	trafficCtx, stopTraffic := context.WithDeadline(ctx, start.Add(s.Duration.D()))
	var tlWG sync.WaitGroup
	tlWG.Go(func() { runTimeline(trafficCtx, s, ctl, start, progress) })
	results := sendMix(trafficCtx, ctx, s, t)
	stopTraffic()
	tlWG.Wait()
	trafficEnd := time.Now()
	progress("traffic done: %d requests in %v", len(results), trafficEnd.Sub(start).Round(100*time.Millisecond))
	cleanup()

	interrupted := ctx.Err() != nil
	if !interrupted {
		progress("recovery: waiting for accepted writes to reach the CRM and for recovery probes")
		waitRecovery(ctx, s, t, ctl, pr, sm, trafficEnd)
		interrupted = ctx.Err() != nil
	}
	// Settle the ledger one last time, also after an interrupt, so the
	// report says what was still pending (bounded like cleanup).
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	_, lerr := t.ledger.check(lctx, data)
	sm.sample(lctx)
	lcancel()
	stopBackground()

	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	samples, events := sm.snapshot()
	changes := breakerChanges(actx, admin, start, samples)
	acancel()
	if lerr != nil {
		events = append(events, Event{time.Now(), "could not check every accepted write: " + lerr.Error()})
	}
	rep.build(s, ctl, t, pr, results, samples, events, changes, trafficEnd)
	rep.Interrupted = interrupted
	if interrupted {
		rep.Passed = false
		return rep, fmt.Errorf("drill %s interrupted: %w", s.Name, context.Cause(ctx))
	}
	return rep, nil
}

func trimURL(u string) string {
	for len(u) > 0 && u[len(u)-1] == '/' {
		u = u[:len(u)-1]
	}
	return u
}

// probedDeps are the dependencies a recovers expectation probes.
func probedDeps(s *Scenario) []string {
	var deps []string
	for _, e := range s.Expectations {
		if r := e.Recovers; r != nil && r.Source != "" && !slices.Contains(deps, r.Dependency) {
			deps = append(deps, r.Dependency)
		}
	}
	return deps
}

// preflight checks the sidecar before anything is changed: it answers,
// accepts the token, has drills enabled when the timeline injects faults,
// and is at a clean baseline (dirtyBaseline; with opts.Force the dirty
// items are returned instead of refused). It returns each dependency's
// breaker mode and endpoint, which cleanup restores, and finds a
// Dialogflow alias and an identity token.
func preflight(ctx context.Context, s *Scenario, admin *adminAPI, t *target, opts Options) (map[string]adminapi.DependencyStatus, []string, error) {
	initial, dirty, err := preflightChecks(ctx, s, admin, t, opts)
	if err != nil {
		return nil, nil, err
	}
	if len(dirty) > 0 && !opts.Force {
		return nil, nil, fmt.Errorf("%w: %w: %s (fix it, wait for it to clear, or run with --force)", ErrSetup, ErrDirty, strings.Join(dirty, "; "))
	}
	return initial, dirty, nil
}

func preflightChecks(ctx context.Context, s *Scenario, admin *adminAPI, t *target, opts Options) (map[string]adminapi.DependencyStatus, []string, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := admin.status(pctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: admin %s: %w", ErrSetup, admin.base, err)
	}
	maxRate := opts.MaxBaselineErrorRate
	if maxRate <= 0 {
		maxRate = DefaultMaxBaselineErrorRate
	}
	dirty := dirtyBaseline(st, maxRate)
	initial := map[string]adminapi.DependencyStatus{}
	for _, d := range st.Dependencies {
		initial[string(d.Name)] = d
	}
	needsAdmin, faults := false, false
	for _, step := range s.Timeline {
		needsAdmin = true
		faults = faults || step.Fault != nil
	}
	if faults && !st.Drills.Enabled {
		return nil, nil, fmt.Errorf("%w: drills are not enabled on %s (drills.enabled: true, on staging only; see docs/drills.md)", ErrSetup, admin.base)
	}
	if needsAdmin {
		if err := admin.listFaults(pctx); err != nil && !(isStatus(err, http.StatusNotFound) && !faults) {
			return nil, nil, fmt.Errorf("%w: %w", ErrSetup, err)
		}
	}
	if _, err := t.api.do(pctx, http.MethodGet, "/openapi.yaml", nil, nil, nil); err != nil {
		if _, ok := errors.AsType[*apiError](err); !ok {
			return nil, nil, fmt.Errorf("%w: data plane %s: %w", ErrSetup, t.api.base, err)
		}
	}
	if s.Mix.Dialogflow > 0 || slices.Contains(probedDeps(s), "dialogflow") {
		var out struct {
			Agents []struct {
				Alias string `json:"alias"`
			} `json:"agents"`
		}
		_, err := t.api.do(pctx, http.MethodGet, "/v1/dialogflow/agents", nil, nil, &out)
		switch {
		case err != nil && notConfigured(err):
			t.markUnavailable(OpDialogflow, err)
		case err == nil && len(out.Agents) == 0:
			t.unavailable[OpDialogflow] = "no Dialogflow agent aliases configured"
		case err == nil:
			t.agent = out.Agents[0].Alias
		default:
			t.agent = "default"
		}
	}
	t.idToken = opts.IdentityToken
	if t.idToken == "" && (s.Mix.Identity > 0 || slices.Contains(probedDeps(s), "identity")) {
		var out struct {
			JWT string `json:"jwt"`
		}
		if _, err := admin.dev.do(pctx, http.MethodGet, "/dev/idp/token?sub=holdline-drill", nil, nil, &out); err == nil && out.JWT != "" {
			t.idToken = out.JWT
		} else {
			t.idToken = "holdline-drill-unknown-token"
		}
	}
	return initial, dirty, nil
}

// runTimeline applies each step at its offset from start.
func runTimeline(ctx context.Context, s *Scenario, ctl *controls, start time.Time, progress func(string, ...any)) {
	steps := slices.Clone(s.Timeline)
	slices.SortStableFunc(steps, func(a, b Step) int { return int(a.At - b.At) })
	for _, st := range steps {
		if !sleepUntil(ctx, start.Add(st.At.D())) {
			return
		}
		// A step is applied whole even if the traffic window closes while
		// it is in flight; cleanup undoes it right after.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		ctl.apply(actx, st.At.D(), st)
		cancel()
		ctl.mu.Lock()
		a := ctl.actions[len(ctl.actions)-1]
		ctl.mu.Unlock()
		if a.Error != "" {
			progress("at %v: %s %s %s FAILED: %s", a.Offset, a.Kind, a.Dependency, a.Detail, a.Error)
		} else {
			progress("at %v: %s %s %s", a.Offset, a.Kind, a.Dependency, a.Detail)
		}
	}
}

// sleepUntil waits until t or ctx ends and reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitRecovery waits, after traffic ends and the drill's faults are
// removed, until every accepted write has settled and every recovers
// expectation has either recovered or run out of time, bounded by the
// scenario's recovery after the last fault cleared.
func waitRecovery(ctx context.Context, s *Scenario, t *target, ctl *controls, pr *prober, sm *sampler, trafficEnd time.Time) {
	_, lastClear := ctl.window()
	if lastClear.IsZero() {
		lastClear = trafficEnd
	}
	deadline := lastClear.Add(s.Recovery.D())
	for _, e := range s.Expectations {
		if r := e.Recovers; r != nil {
			if c, ok := ctl.clearedAt(r.Dependency); ok && c.Add(r.Within.D()).After(deadline) {
				deadline = c.Add(r.Within.D())
			}
		}
	}
	for {
		settled, _ := t.ledger.check(ctx, t.api)
		if settled && recoveriesDone(s, ctl, pr, sm) {
			return
		}
		next := time.Now().Add(500 * time.Millisecond)
		if next.After(deadline) {
			next = deadline
		}
		if !sleepUntil(ctx, next) || !time.Now().Before(deadline) {
			return
		}
	}
}

// recoveriesDone reports whether every probed recovers expectation has
// recovered or run out of time.
func recoveriesDone(s *Scenario, ctl *controls, pr *prober, sm *sampler) bool {
	samples, _ := sm.snapshot()
	for _, e := range s.Expectations {
		r := e.Recovers
		if r == nil || r.Source != "" && pr.t.isUnavailable(probeOps[r.Dependency]) {
			continue
		}
		c, _ := ctl.clearedAt(r.Dependency)
		ok := false
		if r.Source != "" {
			_, ok = pr.recoveredAt(r.Dependency, r.Source, c)
		} else {
			_, ok = breakerClosedAt(samples, r.Dependency, c)
		}
		if !ok && time.Now().Before(c.Add(r.Within.D())) {
			return false
		}
	}
	return true
}

// breakerClosedAt is the first sample at or after from that saw dep's
// breaker closed.
func breakerClosedAt(samples []Sample, dep string, from time.Time) (time.Time, bool) {
	for _, sm := range samples {
		if !sm.Time.Before(from) && sm.Breakers[dep] == "closed" {
			return sm.Time, true
		}
	}
	return time.Time{}, false
}
