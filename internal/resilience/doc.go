// Package resilience wraps every call holdline makes to a dependency (the
// CRM, the identity provider, Dialogflow, the blob store and Redis) in
// failsafe-go policies built once per dependency from config.Policy and
// composed (failsafe.With) into two executors that share them:
//
//	Write: bulkhead -> rate limiter -> breaker -> fn                  (fn runs once)
//	Read:  bulkhead -> rate limiter -> retry -> breaker -> hedge -> fn
//
// A write is never retried or hedged: its executor has no such policy, so
// no flag at a call site can ask for one. Writes that must survive a
// failure go through the outbox, which retries them with an idempotency
// key. The policy timeout bounds either call as the deadline of the
// context fn gets (a context deadline rather than failsafe's timeout
// policy, so gRPC and HTTP carry it upstream and the reason a hang is
// reported under does not depend on which timer fires first; see
// expiry.go).
//
// What an adapter says about an upstream's answer (upstream.StatusError,
// IsPermanent, IsAuthFailure) lives in the leaf package internal/upstream,
// so the CRM contract and the outbox do not import the policies.
//
// Each Dependency also owns an *http.Client with its own connection pool, a
// dialer that enforces the egress allowlist on the resolved address, and a
// fault-injection transport beneath everything for drills.
//
// This package is not a stable API; it serves the holdline binary.
package resilience
