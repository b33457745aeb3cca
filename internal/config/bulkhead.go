package config

import "fmt"

// applyDefaults fills the bulkhead's mode and, for an adaptive one, its
// limits (MaxConcurrent is set by Policy.applyDefaults first).
func (b *Bulkhead) applyDefaults() {
	setStr(&b.Mode, "fixed")
	if !b.Adaptive() {
		return
	}
	setInt(&b.MinConcurrent, 1)
	if b.InitialConcurrent == 0 {
		b.InitialConcurrent = max(min(20, b.MaxConcurrent), b.MinConcurrent)
	}
}

// Validate checks the bulkhead of the policy at path (its problems name
// path.bulkhead.KEY). Policy.Validate runs it; the policy layer runs it
// again before it builds a limiter.
func (b Bulkhead) Validate(path string) []error {
	v := &validator{path: path}
	b.validate(v)
	return v.errs
}

// validate adds the bulkhead's problems to v (v's path is the policy's).
func (b Bulkhead) validate(v *validator) {
	v.positive("bulkhead.max_concurrent", int64(b.MaxConcurrent))
	v.oneOf("bulkhead.mode", b.Mode, "fixed", "adaptive")
	if !b.Adaptive() {
		for _, k := range []struct {
			key string
			set bool
		}{{"min_concurrent", b.MinConcurrent != 0}, {"initial_concurrent", b.InitialConcurrent != 0}, {"queue", b.Queue != 0}} {
			if k.set {
				v.add("bulkhead."+k.key, "applies only to bulkhead.mode adaptive (the mode is "+b.Mode+")")
			}
		}
		return
	}
	v.positive("bulkhead.min_concurrent", int64(b.MinConcurrent))
	if b.MaxConcurrent > 0 && b.MinConcurrent > b.MaxConcurrent {
		v.add("bulkhead.min_concurrent", fmt.Sprintf("must not exceed bulkhead.max_concurrent (%d)", b.MaxConcurrent))
	}
	if b.InitialConcurrent < b.MinConcurrent || b.InitialConcurrent > b.MaxConcurrent {
		v.add("bulkhead.initial_concurrent", fmt.Sprintf("must be between bulkhead.min_concurrent (%d) and bulkhead.max_concurrent (%d)", b.MinConcurrent, b.MaxConcurrent))
	}
	if b.Queue < 0 {
		v.add("bulkhead.queue", "must not be negative")
	} else if b.Queue != 0 && b.Queue < 1 {
		v.add("bulkhead.queue", "is a multiple of the current limit: 0 (no call waits) or at least 1")
	}
}
