// Package upstream is the vocabulary an adapter and a flow share about a
// dependency's answer: the non-2xx status it gave (StatusError), the
// Retry-After it asked for, and whether asking again can help
// (IsPermanent, IsAuthFailure).
//
// It is a leaf: it imports nothing of holdline's, so an adapter that only
// speaks its dependency's API (adapters/crm) and the outbox can classify
// an answer without depending on the policy layer (internal/resilience),
// which wraps calls in bulkheads, breakers and retries and reads these
// same errors to decide what to count and what to retry.
//
// This package is not a stable API; it serves the holdline binary.
package upstream
