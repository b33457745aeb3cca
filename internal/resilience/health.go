package resilience

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// HealthState is what active checks say of one endpoint.
type HealthState string

const (
	// HealthUnknown: not probed enough yet to say.
	HealthUnknown HealthState = "unknown"
	// HealthHealthy: the last healthy_threshold probes succeeded.
	HealthHealthy HealthState = "healthy"
	// HealthUnhealthy: the last unhealthy_threshold probes failed.
	HealthUnhealthy HealthState = "unhealthy"
)

// EndpointHealth is one endpoint's active health.
type EndpointHealth struct {
	State HealthState
	// Since is when State last changed; nil while unknown.
	Since *time.Time
	// CheckedAt is the last probe; nil before one.
	CheckedAt *time.Time
	// LastError is why the last probe failed (a reason, never a URL);
	// empty when it succeeded.
	LastError string
}

// health is a dependency's active checks: the state of each configured
// endpoint, by name (primary, secondary).
type health struct {
	cfg  config.HealthCheck
	urls map[string]string // endpoint name -> probe URL

	mu    sync.Mutex
	state map[string]*probeState
}

type probeState struct {
	EndpointHealth
	oks, fails int // consecutive
}

func newHealth(p config.Policy) *health {
	if !p.HealthCheck.Enabled() {
		return nil
	}
	h := &health{cfg: p.HealthCheck, urls: map[string]string{}, state: map[string]*probeState{}}
	for name, base := range map[string]string{"primary": p.Endpoints.Primary, "secondary": p.Endpoints.Secondary} {
		if base == "" {
			continue
		}
		h.urls[name] = strings.TrimSuffix(base, "/") + p.HealthCheck.Path
		h.state[name] = &probeState{EndpointHealth: EndpointHealth{State: HealthUnknown}}
	}
	return h
}

// HealthChecked reports whether the dependency has active health checks.
func (d *Dependency) HealthChecked() bool { return d.health != nil && len(d.health.urls) > 0 }

// Health returns each configured endpoint's active health, by endpoint
// name; nil without active checks.
func (d *Dependency) Health() map[string]EndpointHealth {
	if !d.HealthChecked() {
		return nil
	}
	h := d.health
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]EndpointHealth, len(h.state))
	for name, st := range h.state {
		out[name] = st.EndpointHealth
	}
	return out
}

// RunHealthChecks probes every configured endpoint at once, then every
// health_check.interval, until ctx ends; it returns nil then, and at once
// when the dependency has no active checks. Probes go through the
// dependency's client (egress allowlist, drill faults) but not its policy
// chain: they never move the breaker.
func (d *Dependency) RunHealthChecks(ctx context.Context) error {
	if !d.HealthChecked() {
		return nil
	}
	var wg sync.WaitGroup
	for name := range d.health.urls {
		wg.Go(func() {
			t := time.NewTicker(d.health.cfg.Interval.D())
			defer t.Stop()
			for {
				d.probe(ctx, name)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// probe runs one check of the named endpoint and updates its state.
func (d *Dependency) probe(ctx context.Context, name string) {
	h := d.health
	err := d.get(ctx, h.urls[name], h.cfg.Timeout.D())
	if ctx.Err() != nil {
		return // shutting down
	}
	now := d.now()
	h.mu.Lock()
	st := h.state[name]
	before := st.State
	st.CheckedAt = &now
	if err == nil {
		st.oks, st.fails, st.LastError = st.oks+1, 0, ""
		if st.oks >= h.cfg.HealthyThreshold {
			st.State = HealthHealthy
		}
	} else {
		st.oks, st.fails, st.LastError = 0, st.fails+1, reason(err)
		if st.fails >= h.cfg.UnhealthyThreshold {
			st.State = HealthUnhealthy
		}
	}
	after, lastErr := st.State, st.LastError
	if after != before {
		st.Since = &now
	}
	h.mu.Unlock()
	if after != before {
		d.log.Info("endpoint health changed", "endpoint", name, "from", string(before), "to", string(after), "last_error", lastErr)
	}
}

// get answers nil when url answers 2xx or 3xx within timeout.
func (d *Dependency) get(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return upstream.FromResponse(resp, d.now())
	}
	return nil
}
