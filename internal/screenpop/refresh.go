package screenpop

import (
	"context"
	"sync"
	"time"

	"github.com/holdline/holdline/cache"
)

// refreshAhead queues a background refresh of a fresh entry that is past
// the refresh-ahead point, so that a number called often never expires.
func (f *Flow) refreshAhead(key string, e cache.Entry, now time.Time) {
	if now.Sub(e.FetchedAt) >= f.refreshAfter {
		f.enqueueRefresh(key)
	}
}

// enqueueRefresh queues one refresh of key unless one is already queued or
// running. It never blocks: with the queue full the refresh is dropped,
// and the next pop of key asks again.
func (f *Flow) enqueueRefresh(key string) {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	if _, dup := f.pending[key]; dup {
		return
	}
	select {
	case f.queue <- key:
		f.pending[key] = struct{}{}
	default:
		f.m.refreshDropped.Inc()
	}
}

// Run performs background refreshes until ctx ends, then waits for the
// refreshes and the shared CRM lookups in flight (each bounded by
// Options.LookupTimeout) and returns nil. After Run returns, Pop still
// works, but queues no background work and no longer detaches shared
// lookups from their caller. Run must be called at most once.
func (f *Flow) Run(ctx context.Context) error {
	f.pooled.Store(true)
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case key := <-f.queue:
					f.refresh(ctx, key)
				}
			}
		})
	}
	wg.Wait()
	f.pooled.Store(false)
	close(f.quit)
	f.gmu.Lock()
	f.stopped = true
	f.gmu.Unlock()
	f.bg.Wait()
	return nil
}

// refresh fetches key again through the shared call, so it coalesces with
// foreground misses for the same number. It skips the CRM while its
// breaker refuses calls: the entry keeps serving, stale, until it allows.
func (f *Flow) refresh(ctx context.Context, key string) {
	defer func() {
		f.pmu.Lock()
		delete(f.pending, key)
		f.pmu.Unlock()
	}()
	if !f.dep.BreakerAllows() {
		f.m.refreshSkipped.Inc()
		return
	}
	ch := f.flight.DoChan(key, func() (any, error) {
		return f.fetch(ctx, key, true)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			f.m.refreshFailed.Inc()
			return
		}
		f.m.refreshOK.Inc()
	case <-ctx.Done():
	}
}
