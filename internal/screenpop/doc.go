// Package screenpop is the budgeted screen-pop flow, free of HTTP: given a
// caller's E.164 number it answers, always within screen_pop.budget, with
// the freshest contact data it can get:
//
//	cache    a fresh cache hit (no I/O on an L1 hit)
//	crm      a cache miss that the CRM answered in time (and is now cached)
//	stale    the CRM failed, timed out, is rate limited or its breaker is
//	         open, and an older entry exists; Degraded, with Reasons
//	minimal  as stale, with nothing cached: E.164 only; Degraded, with Reasons
//
// A dependency's trouble never becomes an error: Pop has no error result.
//
// Concurrent misses for one number share one CRM call (singleflight), run
// on a goroutine kept for the next one while Run runs. That call runs
// with its own deadline (Options.LookupTimeout), detached from the caller
// that started it, and every caller waits for it only until its own
// budget ends; the call still completes (or hits its own timeout) and
// fills the cache for the next pop. A stale answer schedules one
// background refresh per number, and a fresh hit older than
// cache.refresh_ahead of the fresh TTL refreshes ahead of expiry. Background work belongs to Flow.Run.
//
// Not a stable API: holdline is a binary, and this package serves it.
package screenpop
