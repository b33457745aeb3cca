package screenpop_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/screenpop"
	"github.com/holdline/holdline/internal/sim"
)

var ignoreURLs = cmpopts.IgnoreFields(crm.Contact{}, "URL")

func adaResult(source string, age int64) screenpop.Result {
	return screenpop.Result{
		E164:    adaE164,
		Contact: &crm.Contact{ID: "101", Name: "Ada Lovelace", Email: "ada@example.com", Phone: adaE164},
		Records: []crm.Record{{ID: "1001", Subject: "Billing question", Status: "open"}},
		Source:  source,
		AgeMS:   age,
	}
}

func TestPopHealthyCRMThenCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true})
		ada, unknown := number(t, adaE164), number(t, unknownE164)
		opts := cmp.Options{ignoreURLs, cmpopts.IgnoreFields(crm.Record{}, "URL", "UpdatedAt")}

		if diff := cmp.Diff(adaResult(screenpop.SourceCRM, 0), e.pop(t, ada), opts); diff != "" {
			t.Errorf("first Pop(%v) mismatch (-want +got):\n%s", ada, diff)
		}
		e.clk.Add(30 * time.Second)
		if diff := cmp.Diff(adaResult(screenpop.SourceCache, 30_000), e.pop(t, ada), opts); diff != "" {
			t.Errorf("second Pop(%v) mismatch (-want +got):\n%s", ada, diff)
		}

		// Not knowing a number is an answer, and it is cached too.
		want := screenpop.Result{E164: unknownE164, Records: []crm.Record{}, Source: screenpop.SourceCRM}
		if diff := cmp.Diff(want, e.pop(t, unknown)); diff != "" {
			t.Errorf("Pop(%v) mismatch (-want +got):\n%s", unknown, diff)
		}
		want.Source = screenpop.SourceCache
		if diff := cmp.Diff(want, e.pop(t, unknown)); diff != "" {
			t.Errorf("second Pop(%v) mismatch (-want +got):\n%s", unknown, diff)
		}

		if got := e.lookups(); got != 2 {
			t.Errorf("CRM lookups = %d, want 2 (one per number)", got)
		}
		for source, want := range map[string]float64{"crm": 2, "cache": 2, "stale": 0, "minimal": 0} {
			if got := gather(t, e.reg, "holdline_screen_pop_total", "source", source); got != want {
				t.Errorf("holdline_screen_pop_total{source=%q} = %v, want %v", source, got, want)
			}
		}
	})
}

// TestPopDegradedCRM: whatever the CRM does, every pop answers within the
// budget; a known number is served stale and an unknown one minimal, both
// degraded with a reason naming the CRM; and the breaker opens.
func TestPopDegradedCRM(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mode      sim.CRMMode
		wantOpen  bool   // the breaker must open (a flapping CRM may open it or not)
		wantFirst string // the reason before the breaker opens
	}{
		{"503 always", sim.CRMMode{Kind: sim.Mode503}, true, "crm: http 503"},
		{"hanging 10s", sim.CRMMode{Kind: sim.ModeHang, HangMax: 10 * time.Second}, true, "crm: timeout"},
		{"resetting connections", sim.CRMMode{Kind: sim.ModeReset}, true, ""},
		{"flapping 50%", sim.CRMMode{Kind: sim.ModeFlap, FlapRate: 0.5, Seed: 7}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, envOptions{bubble: true})
				ada := number(t, adaE164)
				e.pop(t, ada)              // cached
				e.clk.Add(2 * time.Minute) // no longer fresh, still usable
				e.setMode(t, tc.mode)

				reasons := map[string]int{}
				for i := range 20 {
					unknown := number(t, "+141555502"+string(rune('0'+i/10))+string(rune('0'+i%10)))
					for _, n := range []struct {
						r     screenpop.Result
						known bool
					}{{e.pop(t, ada), true}, {e.pop(t, unknown), false}} {
						r := n.r
						if r.Source == screenpop.SourceCRM || r.Source == screenpop.SourceCache {
							// A flapping CRM answers some lookups, which
							// then serve from the cache.
							if tc.mode.Kind != sim.ModeFlap {
								t.Fatalf("Pop = source %s with the CRM in %s", r.Source, tc.name)
							}
							continue
						}
						wantSource := screenpop.SourceMinimal
						if n.known {
							wantSource = screenpop.SourceStale
						}
						if r.Source != wantSource || !r.Degraded || len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "crm: ") {
							t.Fatalf("Pop(known=%v) = %+v, want source %s, degraded, one crm reason", n.known, r, wantSource)
						}
						if r.Records == nil {
							t.Errorf("Pop(known=%v).Records = nil, want non-nil", n.known)
						}
						if !n.known && (r.Contact != nil || r.E164 == "") {
							t.Errorf("minimal Pop = %+v, want E164 only", r)
						}
						if n.known && (r.Contact == nil || r.Contact.Name != "Ada Lovelace" || r.AgeMS < 120_000) {
							t.Errorf("stale Pop = %+v, want Ada, at least 2 minutes old", r)
						}
						reasons[r.Reasons[0]]++
					}
				}
				t.Logf("reasons: %v", reasons)
				if tc.wantFirst != "" && reasons[tc.wantFirst] == 0 {
					t.Errorf("reasons %v, want some %q", reasons, tc.wantFirst)
				}
				if tc.wantOpen && reasons["crm: circuit open"] == 0 {
					t.Errorf("reasons %v, want the breaker to open", reasons)
				}
			})
		})
	}
}

func TestBreakerStopsCRMCallsUntilHalfOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true})
		unknown := number(t, unknownE164)
		e.setMode(t, sim.CRMMode{Kind: sim.Mode503})
		for i := 0; ; i++ {
			if r := e.pop(t, unknown); r.Reasons[0] == "crm: circuit open" {
				break
			}
			if i == 50 {
				t.Fatal("the breaker did not open after 50 failing pops")
			}
		}
		before := e.lookups()
		for range 30 {
			start := time.Now()
			r := e.pop(t, unknown)
			if r.Source != screenpop.SourceMinimal || r.Reasons[0] != "crm: circuit open" {
				t.Fatalf("Pop with the breaker open = %+v, want minimal, crm: circuit open", r)
			}
			if el := time.Since(start); el != 0 {
				t.Errorf("Pop with the breaker open took %v of bubble time, want no wait", el)
			}
		}
		if got := e.lookups(); got != before {
			t.Errorf("CRM lookups while the breaker is open = %d, want none", got-before)
		}

		e.setMode(t, sim.CRMMode{Kind: sim.ModeOK})
		eventually(t, "the breaker to allow a probe", e.crmDep.BreakerAllows)
		if r := e.pop(t, unknown); r.Source != screenpop.SourceCRM {
			t.Errorf("Pop after open_for = %+v, want the half-open probe to answer from the CRM", r)
		}
		if got := e.lookups(); got != before+1 {
			t.Errorf("CRM lookups after open_for = %d, want one probe", got-before)
		}
	})
}

func TestConcurrentMissesMakeOneCRMCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The default 200ms budget and 150ms CRM timeout: in the bubble,
		// starting 1,000 goroutines takes no time, however loaded the
		// machine, so every pop gets the one lookup's answer.
		e := newEnv(t, envOptions{bubble: true})
		// Two requests (contact, then records) of 20ms each.
		e.setMode(t, sim.CRMMode{Kind: sim.ModeOK, Latency: 20 * time.Millisecond})
		ada := number(t, adaE164)

		const n = 1000
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make([]screenpop.Result, n)
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = e.pop(t, ada)
			})
		}
		began := time.Now()
		close(start)
		wg.Wait()
		if el := time.Since(began); el != 40*time.Millisecond {
			t.Errorf("%d concurrent pops took %v, want the one lookup's 40ms", n, el)
		}

		for i, r := range results {
			if r.Source != screenpop.SourceCRM && r.Source != screenpop.SourceCache || r.Contact == nil {
				t.Fatalf("Pop %d = %+v, want Ada from the CRM or the cache", i, r)
			}
		}
		if got := e.lookups(); got != 1 {
			t.Errorf("CRM lookups for %d concurrent pops of one uncached number = %d, want 1", n, got)
		}
	})
}

// TestSharedLookupOutlivesItsFirstCaller: the first caller giving up does
// not cancel the lookup that others wait for.
func TestSharedLookupOutlivesItsFirstCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true})
		// Two requests (contact, then records) of 40ms each.
		e.setMode(t, sim.CRMMode{Kind: sim.ModeOK, Latency: 40 * time.Millisecond})
		ada := number(t, adaE164)

		ctx, cancel := context.WithCancel(t.Context())
		first := make(chan screenpop.Result)
		go func() { first <- e.flow.Pop(ctx, ada) }()
		eventually(t, "the CRM to see the lookup", func() bool { return e.lookups() == 1 })

		second := make(chan screenpop.Result)
		go func() { second <- e.flow.Pop(t.Context(), ada) }()
		synctest.Wait() // the second caller has joined the flight and waits
		cancel()

		if r := <-first; r.Source != screenpop.SourceMinimal || r.Reasons[0] != "crm: canceled" {
			t.Errorf("cancelled Pop = %+v, want minimal, crm: canceled", r)
		}
		if r := <-second; r.Source != screenpop.SourceCRM {
			t.Errorf("second Pop = %+v, want the shared lookup's answer", r)
		}
		if got := e.lookups(); got != 1 {
			t.Errorf("CRM lookups = %d, want 1", got)
		}
	})
}

// TestSlowCRMFillsTheCacheAfterTheBudget: a CRM slower than the budget but
// within its own timeout degrades this pop and serves the next.
func TestSlowCRMFillsTheCacheAfterTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true, mutate: func(c *config.Config) {
			c.Dependencies.CRM.Timeout = config.Duration(time.Second)
		}})
		e.setMode(t, sim.CRMMode{Kind: sim.ModeOK, Latency: 300 * time.Millisecond})
		ada := number(t, adaE164)

		if r := e.pop(t, ada); r.Source != screenpop.SourceMinimal || r.Reasons[0] != "crm: budget exhausted" {
			t.Fatalf("Pop with a 300ms CRM = %+v, want minimal, crm: budget exhausted", r)
		}
		eventually(t, "the shared lookup to fill the cache", func() bool {
			_, ok := e.cache.Peek(adaE164)
			return ok
		})
		if r := e.pop(t, ada); r.Source != screenpop.SourceCache {
			t.Errorf("next Pop = %+v, want source cache", r)
		}
		if got := e.lookups(); got != 1 {
			t.Errorf("CRM lookups = %d, want 1", got)
		}
	})
}

// TestStaleServeRefreshesOnceInTheBackground: stale answers schedule one
// refresh per number, which joins the lookup already in flight.
func TestStaleServeRefreshesOnceInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true, mutate: func(c *config.Config) {
			c.Dependencies.CRM.Timeout = config.Duration(time.Second)
		}})
		ada := number(t, adaE164)
		e.pop(t, ada)
		e.clk.Add(2 * time.Minute)
		e.setMode(t, sim.CRMMode{Kind: sim.ModeOK, Latency: 300 * time.Millisecond})

		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if r := e.pop(t, ada); r.Source != screenpop.SourceStale || r.Reasons[0] != "crm: budget exhausted" {
					t.Errorf("Pop = %+v, want stale, crm: budget exhausted", r)
				}
			})
		}
		wg.Wait()
		eventually(t, "the refresh to land", func() bool {
			en, ok := e.cache.Peek(adaE164)
			return ok && en.Fresh(e.clk.Now())
		})
		if r := e.pop(t, ada); r.Source != screenpop.SourceCache || r.AgeMS != 0 {
			t.Errorf("Pop after the refresh = %+v, want a fresh cache hit", r)
		}
		time.Sleep(time.Minute) // bubble time: a duplicate refresh would be done by now
		synctest.Wait()
		if got := e.lookups(); got != 2 {
			t.Errorf("CRM lookups = %d, want 2 (the first pop, then one shared refresh)", got)
		}
	})
}

func TestRefreshAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true})
		ada := number(t, adaE164)
		e.pop(t, ada)

		e.clk.Add(10 * time.Second) // before 0.8 * fresh_ttl (48s)
		if r := e.pop(t, ada); r.Source != screenpop.SourceCache || r.AgeMS != 10_000 {
			t.Fatalf("Pop at 10s = %+v, want a 10s-old cache hit", r)
		}
		e.clk.Add(40 * time.Second) // 50s: past the refresh-ahead point, still fresh
		if r := e.pop(t, ada); r.Source != screenpop.SourceCache || r.AgeMS != 50_000 {
			t.Fatalf("Pop at 50s = %+v, want a 50s-old cache hit (refreshed behind it)", r)
		}
		eventually(t, "the refresh-ahead", func() bool {
			en, ok := e.cache.Peek(adaE164)
			return ok && en.FetchedAt.Equal(e.clk.Now())
		})
		if r := e.pop(t, ada); r.Source != screenpop.SourceCache || r.AgeMS != 0 {
			t.Errorf("Pop after the refresh-ahead = %+v, want a new cache hit", r)
		}
		if got := e.lookups(); got != 2 {
			t.Errorf("CRM lookups = %d, want 2", got)
		}
	})
}

// TestRunWaitsForSharedLookups: Run returns only once the detached lookups
// it owns are done, so shutdown leaves no goroutine behind.
func TestRunWaitsForSharedLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true, noRun: true, mutate: func(c *config.Config) {
			c.Dependencies.CRM.Timeout = config.Duration(time.Second)
		}})
		// The cache runs as usual: its Run's return stops L1's maintenance
		// goroutine, which must not outlive the bubble.
		cctx, ccancel := context.WithCancel(context.Background())
		cdone := make(chan error, 1)
		go func() { cdone <- e.cache.Run(cctx) }()
		t.Cleanup(func() {
			ccancel()
			if err := <-cdone; err != nil {
				t.Errorf("cache Run = %v", err)
			}
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- e.flow.Run(ctx) }()
		e.setMode(t, sim.CRMMode{Kind: sim.ModeOK, Latency: 300 * time.Millisecond})
		if r := e.pop(t, number(t, adaE164)); r.Source != screenpop.SourceMinimal {
			t.Fatalf("Pop = %+v, want minimal", r)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if _, ok := e.cache.Peek(adaE164); !ok {
			t.Error("Run returned before the shared lookup it owned finished")
		}
	})
}

func TestLogsNeverHoldTheNumber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{bubble: true})
		e.setMode(t, sim.CRMMode{Kind: sim.Mode503})
		e.pop(t, number(t, adaE164))
		logs := e.logs.String()
		if !strings.Contains(logs, "screen pop degraded") {
			t.Fatalf("logs %q, want the degraded pop logged", logs)
		}
		if strings.Contains(logs, "4155550100") || strings.Contains(logs, "555010") {
			t.Errorf("logs hold the number: %s", logs)
		}
	})
}

func gather(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestHangingCRMOpensTheBreaker: a CRM that hangs, on a real loopback
// server, with production's shape (budget shorter than the CRM timeout,
// so pops give up long before the calls end, and many successes in the
// breaker's window from before): the calls it holds fill the bulkhead,
// the pops refused by it count as failures, and the breaker opens as it
// does for a CRM that answers 503; the pops after it answer at once from
// the cache, without calling the CRM.
func TestHangingCRMOpensTheBreaker(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(c *config.Config) {
		c.ScreenPop.Budget = config.Duration(300 * time.Millisecond)
		p := &c.Dependencies.CRM.Policy
		p.Timeout = config.Duration(30 * time.Second) // the pops' shared lookups end first
		p.Bulkhead.MaxConcurrent = 2
		p.Breaker.MinRequests = 20
		p.Breaker.Window = config.Duration(time.Minute)
		p.Breaker.OpenFor = config.Duration(time.Hour) // no half-open probe during the test
	}})
	ada := number(t, adaE164)
	if r := e.pop(t, ada); r.Source != screenpop.SourceCRM {
		t.Fatalf("first Pop = %+v, want from the CRM", r)
	}
	for i := range 19 {
		e.pop(t, number(t, fmt.Sprintf("+1415555%04d", 3000+i)))
	}
	e.clk.Add(2 * time.Minute) // Ada's entry is stale, still usable
	e.setMode(t, sim.CRMMode{Kind: sim.ModeHang, HangMax: time.Minute})

	reasons := map[string]int{}
	for i := 0; e.crmDep.Status().Breaker != "open"; i++ {
		if i == 100 {
			t.Fatalf("the breaker did not open after 100 pops of a hanging CRM (20 successes before); reasons %v", reasons)
		}
		r := e.pop(t, number(t, fmt.Sprintf("+1415555%04d", 4000+i)))
		if r.Source != screenpop.SourceMinimal || !r.Degraded || len(r.Reasons) != 1 {
			t.Fatalf("Pop of an unknown number, CRM hanging = %+v, want minimal, degraded, one reason", r)
		}
		reasons[r.Reasons[0]]++
	}
	t.Logf("reasons until the breaker opened: %v", reasons)
	if reasons["crm: bulkhead full"] == 0 {
		t.Errorf("reasons %v, want some pops refused by the full bulkhead", reasons)
	}

	before := e.lookups()
	if r := e.pop(t, ada); r.Source != screenpop.SourceStale || r.Contact == nil || len(r.Reasons) != 1 || r.Reasons[0] != "crm: circuit open" {
		t.Errorf("Pop of a cached number, breaker open = %+v, want stale, crm: circuit open", r)
	}
	if r := e.pop(t, number(t, unknownE164)); r.Source != screenpop.SourceMinimal || len(r.Reasons) != 1 || r.Reasons[0] != "crm: circuit open" {
		t.Errorf("Pop of an unknown number, breaker open = %+v, want minimal, crm: circuit open", r)
	}
	if got := e.lookups(); got != before {
		t.Errorf("CRM lookups with the breaker open = %d, want none", got-before)
	}
}
