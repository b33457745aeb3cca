package dialogflow_test

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/conversation"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/sim"
)

// Two agents in two regions, as in examples/holdline.yaml.
const (
	primaryEnv   = "projects/acme/locations/us-central1/agents/a1/environments/prod"
	secondaryEnv = "projects/acme/locations/europe-west1/agents/a2/environments/prod"
	fallbackMsg  = "Let me connect you to an agent."
	fallbackQ    = "support-live"
)

// startSim starts the in-process Dialogflow on loopback.
func startSim(t testing.TB) *sim.Dialogflow {
	t.Helper()
	df, err := sim.StartDialogflow("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(df.Stop)
	return df
}

// fixture is a Client on the simulator with its dependency and metrics.
type fixture struct {
	c   *dialogflow.Client
	dep *resilience.Dependency
	reg *prometheus.Registry
	df  *sim.Dialogflow

	mu        sync.Mutex
	locations []string // what Options.Endpoint was asked for
}

type setup struct {
	agents  map[string]config.DialogflowAgent // nil: one "support" alias on primaryEnv
	policy  func(*config.Policy)              // the dialogflow dependency's policy
	options func(*dialogflow.Options)
	faults  *resilience.Faults // drill faults of the dependency; nil: none
}

func support(secondary string, budget time.Duration) map[string]config.DialogflowAgent {
	return map[string]config.DialogflowAgent{"support": {
		Environment: primaryEnv,
		Secondary:   secondary,
		Budget:      config.Duration(budget),
		Fallback:    config.DialogflowFallback{Message: fallbackMsg, Queue: fallbackQ},
	}}
}

func newFixture(t testing.TB, df *sim.Dialogflow, s setup) *fixture {
	t.Helper()
	cfg := config.Default()
	if s.policy != nil {
		s.policy(&cfg.Dependencies.Dialogflow)
	}
	set, err := resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true, Faults: s.faults})
	if err != nil {
		t.Fatal(err)
	}
	if s.agents == nil {
		s.agents = support("", 2*time.Second)
	}
	f := &fixture{dep: set.Get("dialogflow"), reg: prometheus.NewRegistry(), df: df}
	opts := dialogflow.Options{
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: f.reg,
		Endpoint: func(loc string) string {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.locations = append(f.locations, loc)
			return df.Addr()
		},
		ClientOptions: df.ClientOptions(),
		Breaker:       cfg.Dependencies.Dialogflow.Breaker,
		ReadTimeout:   time.Second,
	}
	if s.options != nil {
		s.options(&opts)
	}
	c, err := dialogflow.New(t.Context(), config.Dialogflow{Agents: s.agents}, f.dep, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	f.c = c
	return f
}

func (f *fixture) endpointsAsked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.locations)
}

// turn runs one turn that must not fail.
func (f *fixture) turn(t *testing.T, session, text string) conversation.Turn {
	t.Helper()
	tr, err := f.c.DetectIntent(t.Context(), "support", session, conversation.Input{Text: text, LanguageCode: "en"})
	if err != nil {
		t.Fatalf("DetectIntent(%q, %q) = %v", session, text, err)
	}
	return tr
}

func sessionsUnder(env string, ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, env+"/sessions/"+id)
	}
	return out
}

func problemPaths(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, problemPaths(e)...)
		}
		return out
	}
	if p, ok := errors.AsType[*config.Problem](err); ok {
		return []string{p.Path}
	}
	return nil
}

// count sums the series of the named metric whose label has value.
func (f *fixture) count(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// newDep builds the dialogflow dependency from the config defaults.
func newDep(t *testing.T, policy func(*config.Policy)) *resilience.Dependency {
	t.Helper()
	cfg := config.Default()
	if policy != nil {
		policy(&cfg.Dependencies.Dialogflow)
	}
	set, err := resilience.NewSet(cfg.Dependencies, resilience.Options{AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	return set.Get("dialogflow")
}
