package resilience

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/config"
)

// MaxFaultDuration is the longest a drill fault may stay active.
const MaxFaultDuration = 24 * time.Hour

// Fault is one drill: for Duration, calls to Dependency first wait Latency,
// then fail with probability ErrorRate. A failing HTTP call answers Status
// when it is set, else has its connection reset when Reset is set, else
// fails with ErrInjected. Faults act beneath the policy chain, so breakers,
// timeouts and retries react to them exactly as to real failures.
type Fault struct {
	ID         string          `json:"id"`
	Dependency string          `json:"dependency"`
	Latency    config.Duration `json:"latency,omitempty"`
	ErrorRate  float64         `json:"error_rate,omitempty"`
	Status     int             `json:"status,omitempty"`
	Reset      bool            `json:"reset,omitempty"`
	// Endpoint limits the fault to calls to the dependency's "primary" or
	// "secondary" endpoint (so a drill can make only the primary sick and
	// an operator fail over); empty means every call. For dialogflow it is
	// the role, in the calling alias, of the environment dialled (each
	// region is its own environment), whichever region is active.
	Endpoint  string          `json:"endpoint,omitempty"`
	Duration  config.Duration `json:"duration"`
	CreatedAt time.Time       `json:"created_at"`
	ExpiresAt time.Time       `json:"expires_at"`
	Actor     string          `json:"actor,omitempty"`
}

// Faults holds the active drill faults. It is safe for concurrent use.
// Faults expire by themselves; nothing needs to run in the background.
type Faults struct {
	now    func() time.Time
	active atomic.Int32 // faults added and not yet deleted or pruned; a hint for the fast path

	mu     sync.Mutex
	faults []Fault
	rand   *mrand.Rand
}

// NewFaults returns an empty set of faults. now may be nil (time.Now).
func NewFaults(now func() time.Time) *Faults {
	if now == nil {
		now = time.Now
	}
	return &Faults{now: now, rand: mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))}
}

// SetRand replaces the source of the error_rate dice, so tests can seed it.
func (f *Faults) SetRand(r *mrand.Rand) {
	f.mu.Lock()
	f.rand = r
	f.mu.Unlock()
}

// Add validates ft, assigns its ID, CreatedAt and ExpiresAt, and activates
// it. A validation error is a holdline EINVALID error naming the JSON
// field.
func (f *Faults) Add(ft Fault) (Fault, error) {
	switch {
	case !slices.Contains(config.Names, ft.Dependency):
		return Fault{}, holdline.Errorf(holdline.EINVALID, "dependency", "%q is not one of %v", ft.Dependency, config.Names)
	case ft.ErrorRate < 0 || ft.ErrorRate > 1 || ft.ErrorRate != ft.ErrorRate:
		return Fault{}, holdline.Errorf(holdline.EINVALID, "error_rate", "must be between 0 and 1")
	case ft.Status != 0 && (ft.Status < 400 || ft.Status > 599):
		return Fault{}, holdline.Errorf(holdline.EINVALID, "status", "must be 0 or between 400 and 599")
	case ft.Latency < 0:
		return Fault{}, holdline.Errorf(holdline.EINVALID, "latency", "must not be negative")
	case ft.Duration <= 0:
		return Fault{}, holdline.Errorf(holdline.EINVALID, "duration", "must be positive")
	case ft.Duration.D() > MaxFaultDuration:
		return Fault{}, holdline.Errorf(holdline.EINVALID, "duration", "must be at most 24h")
	case ft.Endpoint != "" && ft.Endpoint != "primary" && ft.Endpoint != "secondary":
		return Fault{}, holdline.Errorf(holdline.EINVALID, "endpoint", "must be primary, secondary or empty (every call)")
	case ft.Latency == 0 && ft.ErrorRate == 0:
		return Fault{}, holdline.Errorf(holdline.EINVALID, "error_rate", "a fault needs latency or a positive error_rate")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	ft.ID = hex.EncodeToString(b[:])
	ft.CreatedAt = f.now()
	ft.ExpiresAt = ft.CreatedAt.Add(ft.Duration.D())

	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	f.faults = append(f.faults, ft)
	f.active.Store(int32(len(f.faults)))
	return ft, nil
}

// List returns the active faults, oldest first; never nil, so an empty
// list is [] on the wire.
func (f *Faults) List() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	return append([]Fault{}, f.faults...)
}

// Delete removes the fault with id and reports whether it was active.
func (f *Faults) Delete(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	n := len(f.faults)
	f.faults = slices.DeleteFunc(f.faults, func(ft Fault) bool { return ft.ID == id })
	f.active.Store(int32(len(f.faults)))
	return len(f.faults) < n
}

// Active returns the active faults for dep.
func (f *Faults) Active(dep string) []Fault {
	if f == nil || f.active.Load() == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	var out []Fault
	for _, ft := range f.faults {
		if ft.Dependency == dep {
			out = append(out, ft)
		}
	}
	return out
}

func (f *Faults) pruneLocked() {
	now := f.now()
	f.faults = slices.DeleteFunc(f.faults, func(ft Fault) bool { return !now.Before(ft.ExpiresAt) })
	f.active.Store(int32(len(f.faults)))
}

// any reports whether any fault is active: the cheap check that keeps the
// no-fault path free of work.
func (f *Faults) any() bool { return f != nil && f.active.Load() > 0 }

// effect is what the active faults of one dependency do to one call.
type effect struct {
	latency time.Duration
	fail    bool
	status  int
	reset   bool
}

// roll sums the latency of the active faults for dep whose endpoint
// matches (a fault without one matches every call) and rolls each one's
// error_rate; the first fault that fires decides how the call fails.
func (f *Faults) roll(dep, endpoint string) (effect, bool) {
	if f == nil || f.active.Load() == 0 {
		return effect{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	var e effect
	found := false
	for _, ft := range f.faults {
		if ft.Dependency != dep || (ft.Endpoint != "" && ft.Endpoint != endpoint) {
			continue
		}
		found = true
		e.latency += ft.Latency.D()
		if !e.fail && ft.ErrorRate > 0 && (ft.ErrorRate >= 1 || f.rand.Float64() < ft.ErrorRate) {
			e.fail, e.status, e.reset = true, ft.Status, ft.Reset
		}
	}
	return e, found
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
