package drill

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodScenario = `
name: crm-wobble
description: a test
duration: 20s
rate: 10
mix: {screen_pop: 3, crm_write: 1}
timeline:
  - at: 2s
    fault: {dependency: crm, error_rate: 0.5, status: 503, duration: 5s}
  - at: 4s
    breaker: {dependency: crm, mode: open, reason: vendor incident}
  - at: 6s
    failover: {dependency: crm, to: secondary}
  - at: 8s
    clear_faults: true
expectations:
  - critical_success_rate: {min: 0.999, within_budget: true}
  - breaker_opens: {dependency: crm, within: 5s}
  - nothing_lost: true
  - recovers: {dependency: crm, source: crm, within: 10s}
  - max_p99: {operation: screen_pop, value: 400ms}
  - breaker_stays_closed: {dependency: identity}
  - success_rate: {operation: crm_write, min: 1}
`

func TestParseGoodScenario(t *testing.T) {
	s, err := Parse([]byte(goodScenario))
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration.D() != 20*time.Second || s.Rate != 10 || s.Mix.ScreenPop != 3 || len(s.Timeline) != 4 || len(s.Expectations) != 7 {
		t.Errorf("decoded %+v", s)
	}
	if f := s.Timeline[0].Fault; f == nil || f.ErrorRate != 0.5 || f.Status != 503 || f.Duration.D() != 5*time.Second {
		t.Errorf("fault = %+v", f)
	}
	// Defaults.
	if s.MaxInFlight != 256 || s.Recovery.D() != 30*time.Second || s.Budgets.ScreenPop.D() != 300*time.Millisecond || s.BudgetSlack.D() != 100*time.Millisecond {
		t.Errorf("defaults not applied: %+v", s)
	}
}

func TestParseProblemsNameTheirPath(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		want     []string
	}{
		{"good", "", "", nil},
		{"unknown key", "rate: 10", "rate: 10\nrat: 5", []string{"rat: line 6: unknown key"}},
		{"unknown key in a fault", "duration: 5s}", "duration: 5s, colour: red}", []string{"timeline[0].fault.colour: line 9: unknown key"}},
		{"unknown operation in the mix", "crm_write: 1}", "crm_write: 1, voicemail: 2}", []string{"mix.voicemail: line 6: unknown key"}},
		{"bad duration", "duration: 20s", "duration: twenty", []string{`duration: line 4: invalid duration "twenty"`}},
		{"bad fault duration", "status: 503, duration: 5s", "status: 503, duration: -5s", []string{"timeline[0].fault.duration"}},
		{"missing fault duration", "status: 503, duration: 5s", "status: 503", []string{"timeline[0].fault.duration: required"}},
		{"step after the end", "at: 8s", "at: 25s", []string{"timeline[3].at: 25s is not before the end"}},
		{"two actions in a step", "clear_faults: true", "clear_faults: true\n    breaker: {dependency: crm, mode: auto}", []string{"timeline[3]: give exactly one of"}},
		{"bad breaker mode", "mode: open", "mode: ajar", []string{`timeline[1].breaker.mode: "ajar"`}},
		{"unknown dependency", "failover: {dependency: crm", "failover: {dependency: erp", []string{`timeline[2].failover.dependency: "erp"`}},
		{"unknown expectation", "- nothing_lost: true", "- nothing_lost: true\n  - everything_fine: true", []string{"expectations[3].everything_fine: line 20: unknown key"}},
		{"bad expectation rate", "min: 0.999", "min: 99.9", []string{"expectations[0].critical_success_rate.min: must be in (0, 1]"}},
		{"expectation on an operation not in the mix", "operation: screen_pop, value", "operation: recording, value", []string{"expectations[4].max_p99.operation: recording has no weight in mix"}},
		{"breaker_opens without a fault", "breaker_opens: {dependency: crm", "breaker_opens: {dependency: blob", []string{"expectations[1].breaker_opens.dependency: the timeline has no fault on blob"}},
		{"recovers from a wrong source", "source: crm, within", "source: fallback, within", []string{`expectations[3].recovers.source: "fallback": crm answers from one of`}},
		{"bad expectation duration", "within: 10s}", "within: soon}", []string{`expectations[3].recovers.within: line 20: invalid duration "soon"`}},
		{"two problems at once", "rate: 10", "rate: 0\nmax_in_flight: -1", []string{"rate: must be", "max_in_flight: must be"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := goodScenario
			if tc.from != "" {
				if !strings.Contains(src, tc.from) {
					t.Fatalf("test bug: %q not in the scenario", tc.from)
				}
				src = strings.Replace(src, tc.from, tc.to, 1)
			}
			_, err := Parse([]byte(src))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Parse = %v, want ok", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = ok, want %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseEmptyAndMalformed(t *testing.T) {
	for _, src := range []string{"", "  \n", "name: [", "- a\n- b"} {
		if _, err := Parse([]byte(src)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", src, err)
		}
	}
}

// Every shipped example must validate.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../../examples/drills/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	names := map[string]bool{}
	for _, f := range files {
		s, err := LoadFile(f)
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
			continue
		}
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if s.Name != base {
			t.Errorf("%s: name %q, want the file's name %q", f, s.Name, base)
		}
		names[base] = true
		if len(s.Expectations) == 0 {
			t.Errorf("%s: no expectations", f)
		}
	}
	for _, want := range []string{"crm-hang", "crm-flapping", "crm-rate-limited", "identity-slow", "dialogflow-down", "gcs-down", "redis-down", "everything-wobbles", "manual-failover"} {
		if !names[want] {
			t.Errorf("examples/drills/%s.yaml is missing", want)
		}
	}
	if _, err := os.Stat("../../docs/drills.md"); err != nil {
		t.Errorf("docs/drills.md: %v", err)
	}
}
