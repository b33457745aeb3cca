package screenpop_test

import (
	"testing"
	"time"

	"github.com/holdline/holdline/internal/screenpop"
)

// BenchmarkPopCacheHit is the hot path: a fresh L1 hit, no I/O.
func BenchmarkPopCacheHit(b *testing.B) {
	e := newEnv(b, envOptions{})
	ada := number(b, adaE164)
	ctx := b.Context()
	if r := e.flow.Pop(ctx, ada); r.Source != screenpop.SourceCRM {
		b.Fatalf("warm-up Pop = %+v", r)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := e.flow.Pop(ctx, ada); r.Source != screenpop.SourceCache {
			b.Fatalf("Pop = %+v, want a cache hit", r)
		}
	}
}

// BenchmarkPopCRMPassThrough is the miss path: every pop finds nothing
// usable and asks the simulator over loopback HTTP (contact, then open
// records) through the crm dependency's policy chain.
func BenchmarkPopCRMPassThrough(b *testing.B) {
	e := newEnv(b, envOptions{})
	ada := number(b, adaE164)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		e.clk.Add(2 * time.Hour) // past stale_ttl: a miss
		if r := e.flow.Pop(ctx, ada); r.Source != screenpop.SourceCRM {
			b.Fatalf("Pop = %+v, want crm", r)
		}
	}
}
