// Package resilience wraps every call holdline makes to a dependency (the
// CRM, the identity provider, Dialogflow, the blob store and Redis) in a
// policy chain built once per dependency from config.Policy:
//
//	bulkhead -> rate limiter -> circuit breaker -> timeout -> retry/hedge (idempotent only) -> fn
//
// The policies are failsafe-go's. The outer four are driven through their
// permit APIs (TryAcquirePermit, RecordSuccess, RecordFailure) so that the
// common path costs a handful of allocations; retries and hedges run through
// a failsafe executor built once per dependency.
//
// Each Dependency also owns an *http.Client with its own connection pool, a
// dialer that enforces the egress allowlist on the resolved address, and a
// fault-injection transport beneath everything for drills.
//
// This package is not a stable API; it serves the holdline binary.
package resilience
