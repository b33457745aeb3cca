package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// These errors are returned by Store implementations and the Dispatcher.
// Callers match them with errors.Is.
var (
	// ErrLocked is returned by OpenBolt when another process (or another
	// BoltStore in this one) holds the database file and the lock was not
	// released within BoltOptions.LockTimeout.
	ErrLocked = errors.New("outbox: store is held by another process")

	// ErrClosed is returned by every Store method called after Close.
	ErrClosed = errors.New("outbox: store closed")

	// ErrInvalid is returned (wrapped, with the reason) by Enqueue for a
	// job without a Kind, with a payload that is not JSON, or with an id
	// that holds a NUL byte or is too long; by Complete for a result that is
	// not JSON; and by Purge for a state other than done or dead.
	ErrInvalid = errors.New("outbox: invalid")

	// ErrNotFound is returned by Get, Complete, Fail and Replay when no
	// job has the id (it never existed or was purged).
	ErrNotFound = errors.New("outbox: job not found")

	// ErrNotInflight is returned by Complete and Fail when the job is not
	// inflight: it was already completed or failed, or recovered after a
	// restart. The caller's outcome is dropped; the job runs again or
	// already has an outcome.
	ErrNotInflight = errors.New("outbox: job not inflight")

	// ErrInflight is returned by Replay when a worker is running the job.
	ErrInflight = errors.New("outbox: job inflight")

	// ErrPartial is returned (wrapped) by FallbackStore.Interaction and
	// FallbackStore.List together with a usable answer when Redis could
	// not be asked: the jobs returned are those the local fallback store
	// holds, and jobs only Redis holds are missing. Callers that can work
	// with what this sidecar knows (accepting a write while Redis is down)
	// use the jobs; others treat it as an error.
	ErrPartial = errors.New("outbox: shared store unreachable; the answer holds local jobs only")

	// ErrPaused is returned by handlers (wrapped) when their dependency
	// refused the call without trying it, typically because its circuit
	// breaker is open (the caller maps failsafe's circuitbreaker.ErrOpen to
	// it). The Dispatcher reschedules the job without spending an attempt.
	ErrPaused = errors.New("outbox: dependency paused")

	// ErrHeld is returned by handlers (wrapped, with the reason) when the
	// job must not run now although its dependency is up: a CRM write
	// whose record lives on an endpoint that is not the active one. The
	// Dispatcher makes the job Held without spending an attempt and tries
	// it again after DispatcherConfig.PauseDelay; it never goes dead for
	// being held.
	ErrHeld = errors.New("outbox: job held")
)

// State is where a job is in its life.
type State string

// The states of a job. See the package documentation for the transitions.
const (
	// Pending jobs wait to run at NextAttemptAt (and behind earlier jobs of
	// their interaction).
	Pending State = "pending"
	// Inflight jobs are being run by a worker.
	Inflight State = "inflight"
	// Done jobs succeeded; their Result is kept until the retention sweep.
	Done State = "done"
	// Dead jobs failed permanently or ran out of retry time and wait for
	// Replay. They hold later jobs of their interaction.
	Dead State = "dead"
	// Held jobs are pending jobs their handler refused to run for now
	// (ErrHeld); LastError says why. They are claimed again when due, like
	// pending jobs, so the handler can look whether the hold still applies,
	// and they hold later jobs of their interaction meanwhile.
	Held State = "held"
)

// Valid reports whether s is one of the five states.
func (s State) Valid() bool {
	switch s {
	case Pending, Inflight, Done, Dead, Held:
		return true
	}
	return false
}

// Job is one durable unit of work.
type Job struct {
	// ID is a ULID assigned by Enqueue; IDs sort in enqueue order.
	ID string `json:"id"`
	// Kind selects the handler, e.g. "crm.create_record",
	// "crm.add_comment", "crm.attach_recording", "blob.upload".
	Kind string `json:"kind"`
	// Dependency names what the job needs ("crm", "blob"); while it is
	// paused the job is not run and spends no attempts.
	Dependency string `json:"dependency,omitempty"`
	// InteractionID is the ordering key: jobs with the same one run one
	// at a time in ID order. Empty means no ordering.
	InteractionID string `json:"interaction_id,omitempty"`
	// IdempotencyKey, when set, makes Enqueue return the job already
	// holding it instead of creating a second one.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Payload is the handler's input.
	Payload json.RawMessage `json:"payload,omitempty"`

	// State is set by the store.
	State State `json:"state"`
	// Attempts counts handler runs that counted: successes and failures,
	// but not runs refused with ErrPaused or cut off by shutdown.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when a pending job is due. Enqueue keeps a value
	// set by the caller (a delayed job) and uses the current time
	// otherwise.
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// FirstFailedAt is when the first counted failure happened since
	// enqueue or the last Replay; the retry budget (Backoff.MaxElapsed)
	// runs from it, so time spent queued or paused before any failure
	// does not count.
	FirstFailedAt time.Time `json:"first_failed_at,omitzero"`
	// CreatedAt is when Enqueue committed the job.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is the time of the last state change.
	UpdatedAt time.Time `json:"updated_at"`
	// LastError is the most recent failure of a job that has not
	// succeeded; Complete clears it, so a done job shows none (its
	// Attempts still count the failures before).
	LastError string `json:"last_error,omitempty"`
	// Result is what the handler returned on success; a later job of the
	// interaction can read it through Store.Interaction.
	Result json.RawMessage `json:"result,omitempty"`
	// Origin is the request that queued the job, kept as given to
	// Enqueue. Zero when nothing is known (a job queued by an older
	// version, or outside any request).
	Origin Origin `json:"origin,omitzero"`
}

// Origin names the request that queued a job, so that the job's upstream
// calls carry its request id and its span links to the request's trace.
type Origin struct {
	// RequestID is the X-Request-Id of the request; the job's upstream
	// calls send it.
	RequestID string `json:"request_id,omitempty"`
	// TraceParent and TraceState are the W3C trace context of the
	// request's span (empty when tracing was off).
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}

// Filter selects jobs for List. Zero fields match everything.
type Filter struct {
	State       State
	Kind        string
	Dependency  string
	Interaction string
	// Since keeps jobs created at or after it.
	Since time.Time
	// Limit caps one page; 0 means 100, and more than 1000 means 1000.
	Limit int
	// Cursor is the next-page cursor returned by the previous List call.
	Cursor string
}

// Failure is the outcome of a failed run, given to Store.Fail.
type Failure struct {
	// Err is recorded as LastError (truncated to 4 KiB).
	Err string
	// Dead sends the job to dead instead of back to pending.
	Dead bool
	// RetryAt is when a pending job is due again; zero means now.
	RetryAt time.Time
	// Uncounted leaves Attempts and FirstFailedAt alone: the dependency
	// was paused or the worker was stopped, so the job was not really tried.
	Uncounted bool
	// Held makes the job Held instead of pending (ignored with Dead).
	Held bool
}

// Stats is a snapshot of the queue.
type Stats struct {
	Pending  int `json:"pending"`
	Inflight int `json:"inflight"`
	Dead     int `json:"dead"`
	Done     int `json:"done"`
	// Held counts jobs waiting for their hold to end (see Held).
	Held int `json:"held"`
	// Blocked counts pending jobs held behind a dead job of their
	// interaction (they are also counted in Pending).
	Blocked int `json:"blocked"`
	// OldestPending is the CreatedAt of the oldest pending job, zero when
	// nothing is pending.
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// Store is the durable queue. Implementations are safe for concurrent use.
// Every method returns ErrClosed after Close.
type Store interface {
	// Enqueue durably stores a new pending job built from j (ID, State,
	// Attempts, timestamps, LastError and Result are set by the store) and
	// returns it with created == true. If j.IdempotencyKey is already
	// held, it returns the existing job unchanged and created == false;
	// the check and the insert are atomic. The job is on stable storage
	// when Enqueue returns.
	Enqueue(ctx context.Context, j Job) (job Job, created bool, err error)
	// Get returns one job, or ErrNotFound.
	Get(ctx context.Context, id string) (Job, error)
	// List returns jobs matching f in ID (enqueue) order, and a cursor for
	// the next page, empty when there is none.
	List(ctx context.Context, f Filter) (jobs []Job, next string, err error)
	// Interaction returns every job of an interaction, done ones included,
	// in ID order; an empty id has none. Handlers use it to read the
	// Result of an earlier job.
	Interaction(ctx context.Context, interactionID string) ([]Job, error)
	// Claim marks up to max due jobs inflight and returns them, earliest
	// NextAttemptAt first. A pending or held job is due when NextAttemptAt <= now, it is the
	// head of its interaction and nothing of its interaction is inflight
	// (see the package documentation). Jobs whose Dependency makes paused
	// return true are left alone; paused may be nil and must be fast and
	// not call the store.
	Claim(ctx context.Context, now time.Time, max int, paused func(dependency string) bool) ([]Job, error)
	// Complete records success of an inflight job: done, Result stored,
	// Attempts incremented. ErrNotFound, ErrNotInflight.
	Complete(ctx context.Context, id string, result json.RawMessage) error
	// Fail records a failed run of an inflight job, see Failure.
	// ErrNotFound, ErrNotInflight.
	Fail(ctx context.Context, id string, f Failure) error
	// Replay makes a dead, done, held or pending job pending and due now, with
	// Attempts and FirstFailedAt reset. ErrNotFound, ErrInflight.
	Replay(ctx context.Context, id string) (Job, error)
	// Purge deletes done or dead jobs last updated before olderThan,
	// with their idempotency keys, and returns how many it deleted.
	// Purging a dead job releases the jobs it held. Other states give
	// ErrInvalid.
	Purge(ctx context.Context, state State, olderThan time.Time) (int, error)
	// Stats counts jobs per state.
	Stats(ctx context.Context) (Stats, error)
	// RecoverInflight makes every inflight job pending and due now, without
	// counting an attempt, and returns how many. Call it when no worker of
	// this store can be running, e.g. before the Dispatcher starts.
	RecoverInflight(ctx context.Context) (int, error)
	// Close releases the store. Calls in progress finish first.
	Close() error
}

// Handler runs one job. It returns the result to store on success. An
// error wrapped with Permanent sends the job to dead at once; an error
// wrapping ErrPaused reschedules it without spending an attempt; any other
// error is retried with backoff. Handlers must honour ctx and be
// idempotent: a job whose worker died runs again.
type Handler func(ctx context.Context, j *Job) (result json.RawMessage, err error)

// Permanent marks err as not worth retrying: the Dispatcher sends the job
// to dead. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func isPermanent(err error) bool {
	_, ok := errors.AsType[*permanentError](err)
	return ok
}

// Limits on job fields, checked by validateJob.
const (
	maxIDLen        = 256 // InteractionID, IdempotencyKey
	maxDepLen       = 64
	maxLastErrorLen = 4096
)

// validateJob reports every problem with a job given to Enqueue at once.
func validateJob(j Job) error {
	var errs []error
	bad := func(field, why string) { errs = append(errs, fmt.Errorf("%w: job %s %s", ErrInvalid, field, why)) }
	if j.Kind == "" {
		bad("kind", "is empty")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"kind", j.Kind, maxIDLen},
		{"interaction_id", j.InteractionID, maxIDLen},
		{"idempotency_key", j.IdempotencyKey, maxIDLen},
		{"dependency", j.Dependency, maxDepLen},
	} {
		if len(f.v) > f.max {
			bad(f.name, fmt.Sprintf("is longer than %d bytes", f.max))
		}
		if strings.IndexByte(f.v, 0) >= 0 {
			bad(f.name, "holds a NUL byte")
		}
		if !utf8.ValidString(f.v) {
			bad(f.name, "is not valid UTF-8")
		}
	}
	if len(j.Payload) > 0 && !json.Valid(j.Payload) {
		bad("payload", "is not valid JSON")
	}
	return errors.Join(errs...)
}

// truncate cuts s to n bytes and makes it valid UTF-8, as JSON would.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
