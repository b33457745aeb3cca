package interactions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// These errors are returned by the Service's methods, inside a
// *holdline.Error that gives each its code (see writeError); callers match
// them with errors.Is.
var (
	// ErrConflict is returned by CreateRecord and AddComment when the
	// idempotency key already belongs to a different write (another
	// request body, operation or interaction).
	ErrConflict = errors.New("interactions: idempotency key already used for a different request")

	// ErrNoRecord is returned by AddComment when the interaction has no
	// record write yet: send the record first.
	ErrNoRecord = errors.New("interactions: the interaction has no record write yet")

	// ErrUnknown is returned by Get for an interaction holdline has no
	// jobs for (never seen, or its jobs were purged after retention).
	ErrUnknown = errors.New("interactions: unknown interaction")
)

// Queue stores jobs durably and wakes whoever runs them
// (*outbox.Dispatcher).
type Queue interface {
	Enqueue(ctx context.Context, j outbox.Job) (job outbox.Job, created bool, err error)
	// Lag is how long a job enqueued now waits for a worker behind the
	// due jobs ahead of it, about (outbox.Dispatcher.Lag); 0 when the
	// workers keep up. It must be cheap: every write asks.
	Lag() time.Duration
}

// Breaker tells whether the CRM would take a call now
// (*resilience.Dependency).
type Breaker interface {
	BreakerAllows() bool
}

// Options tune a Service.
type Options struct {
	// WriteBudget is how long a write waits for its job to finish before
	// it is answered Queued (config outbox.write_budget). Default 1s.
	WriteBudget time.Duration
	// Records, when set, lets a write to a record whose endpoint is not
	// the active one answer Queued at once instead of waiting its budget
	// for a job that is held.
	Records *Records
}

// Status says whether the CRM has a write yet.
type Status string

const (
	// Created: the CRM took the write; the ids are known.
	Created Status = "created"
	// Queued: the write is durable in the outbox and will reach the CRM.
	Queued Status = "queued"
)

// Outcome is the answer to a write. JobID is always set; RecordID and
// CommentID once the CRM has answered.
type Outcome struct {
	Status    Status
	JobID     string
	RecordID  string
	CommentID string
}

// Service runs interaction writes through the outbox and reports what an
// interaction has. It is safe for concurrent use. Finished must be wired
// to the Dispatcher's OnFinish, or every write waits its whole budget, and
// Retried to its OnRetry, or a write whose job failed waits its budget for
// a retry that comes later.
type Service struct {
	queue   Queue
	store   outbox.Store
	crm     Breaker
	budget  time.Duration
	records *Records

	mu      sync.Mutex
	waiters map[string][]chan outbox.Job // job id -> writes waiting for it
}

// New returns a Service that enqueues through queue, reads jobs from
// store and skips the wait while crm's breaker is open.
func New(queue Queue, store outbox.Store, crm Breaker, opts Options) *Service {
	if opts.WriteBudget <= 0 {
		opts.WriteBudget = time.Second
	}
	return &Service{queue: queue, store: store, crm: crm, budget: opts.WriteBudget, records: opts.Records, waiters: map[string][]chan outbox.Job{}}
}

// CreateRecord creates the interaction's CRM record, or appends to it when
// it exists (see the package documentation). key is the client's
// Idempotency-Key; empty derives one. Errors (see writeError): ECONFLICT
// wrapping ErrConflict, and EUNAVAILABLE wrapping the store's (the write
// was not accepted).
func (s *Service) CreateRecord(ctx context.Context, interactionID, key string, r crm.NewRecord) (Outcome, error) {
	out, err := s.createRecord(ctx, interactionID, key, r)
	return out, writeError(err)
}

func (s *Service) createRecord(ctx context.Context, interactionID, key string, r crm.NewRecord) (Outcome, error) {
	r.InteractionID = interactionID
	hash := requestHash(timeline.KindCreateRecord, r)
	if key == "" {
		key = "record:" + interactionID + ":" + hash[:32]
	}
	job, err := timeline.CreateRecordJob(interactionID, key, timeline.RecordPayload{RequestHash: hash, Record: r})
	if err != nil {
		return Outcome{}, fmt.Errorf("interactions: create record: %w", err)
	}
	return s.write(ctx, job, hash)
}

// AddComment adds a comment to the interaction's record, after the record
// write. key is the client's Idempotency-Key; empty derives one. While
// the store can only answer with this sidecar's local jobs
// (outbox.ErrPartial: Redis is down in fleet mode) the comment is accepted
// without the record check. Errors (see writeError): ECONFLICT wrapping
// ErrConflict or ErrNoRecord, and EUNAVAILABLE wrapping the store's.
func (s *Service) AddComment(ctx context.Context, interactionID, key string, c crm.Comment) (Outcome, error) {
	out, err := s.addComment(ctx, interactionID, key, c)
	return out, writeError(err)
}

func (s *Service) addComment(ctx context.Context, interactionID, key string, c crm.Comment) (Outcome, error) {
	hash := requestHash(timeline.KindAddComment, struct {
		Interaction string      `json:"interaction_id"`
		Comment     crm.Comment `json:"comment"`
	}{interactionID, c})
	if key == "" {
		key = "comment:" + interactionID + ":" + hash[:32]
	}
	jobs, err := s.store.Interaction(ctx, interactionID)
	// ErrPartial: the shared store is unreachable and only this sidecar's
	// local jobs are known. The record may well be there: accept the
	// comment rather than refuse a write because Redis is down.
	partial := errors.Is(err, outbox.ErrPartial)
	if err != nil && !partial {
		return Outcome{}, fmt.Errorf("interactions: add comment: %w", err)
	}
	if !partial && !timeline.CanQueue(timeline.KindAddComment, jobs) {
		return Outcome{}, ErrNoRecord
	}
	job, err := timeline.AddCommentJob(interactionID, key, timeline.CommentPayload{RequestHash: hash, Comment: c})
	if err != nil {
		return Outcome{}, fmt.Errorf("interactions: add comment: %w", err)
	}
	return s.write(ctx, job, hash)
}

// write enqueues j (durable when Enqueue returns) and waits for it within
// the budget. A repeated key answers from the job it already names.
func (s *Service) write(ctx context.Context, j outbox.Job, hash string) (Outcome, error) {
	// The budget runs from the request, not from the end of the enqueue:
	// a slow fsync must not add itself to the caller's wait.
	deadline := time.Now().Add(s.budget)
	job, created, err := s.queue.Enqueue(ctx, j)
	if err != nil {
		return Outcome{}, fmt.Errorf("interactions: %s: %w", j.Kind, err)
	}
	if !created {
		if job.Kind != j.Kind || job.InteractionID != j.InteractionID || timeline.RequestHash(job) != hash {
			return Outcome{}, ErrConflict
		}
		return outcome(job), nil
	}
	if !s.crm.BreakerAllows() || s.queue.Lag() >= time.Until(deadline) || s.behind(ctx, job) {
		// The CRM is not taking calls, the dispatcher runs further behind
		// its due jobs than the budget left, or the interaction holds the
		// job (its record's writes are held, or an earlier job is dead or
		// failing): it will not finish in time, so don't make the caller
		// wait for it.
		return outcome(job), nil
	}
	return s.wait(ctx, job, deadline), nil
}

// behind reports whether job waits behind its interaction: writes to its
// record are held (not on the active endpoint), or an earlier job, which
// must finish first, is dead or failing (see settled).
func (s *Service) behind(ctx context.Context, job outbox.Job) bool {
	jobs, err := s.store.Interaction(ctx, job.InteractionID)
	if err != nil {
		return false // wait and see: the budget still bounds the wait
	}
	if s.records != nil && s.records.holds(jobs) {
		return true
	}
	for _, j := range jobs {
		if j.ID >= job.ID {
			break // in ID order: the rest are this job and later ones
		}
		if j.State != outbox.Done && settled(j) { // dead or failing
			return true
		}
	}
	return false
}

// wait returns the job's outcome once it is done or dead, or Queued as
// soon as a run of it fails or is refused (its retry runs on its own
// schedule), when the budget passes, or when the caller gives up first.
func (s *Service) wait(ctx context.Context, job outbox.Job, deadline time.Time) Outcome {
	ch := make(chan outbox.Job, 1)
	s.mu.Lock()
	s.waiters[job.ID] = append(s.waiters[job.ID], ch)
	s.mu.Unlock()
	defer s.forget(job.ID, ch)

	// The job may have finished, or failed, before this write started
	// listening.
	if j, err := s.store.Get(ctx, job.ID); err == nil && settled(j) {
		return outcome(j)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case j := <-ch:
		return outcome(j)
	case <-t.C:
	case <-ctx.Done():
	}
	return outcome(job)
}

// settled reports whether a write can answer from j without waiting for
// it: it is done or dead, or a run of it failed or was refused (it has a
// LastError, cleared only by success) and it is retried on its own
// schedule: backoff, Retry-After, a hold. A job running again after a
// failure, or replayed after one, counts too: it may well fail again.
func settled(j outbox.Job) bool {
	return j.State == outbox.Done || j.State == outbox.Dead || j.LastError != ""
}

func (s *Service) forget(id string, ch chan outbox.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[id]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.waiters, id)
	} else {
		s.waiters[id] = ws
	}
}

// Finished tells the writes waiting for j that it is done or dead. Wire it
// to outbox.DispatcherConfig.OnFinish. It never blocks.
func (s *Service) Finished(j outbox.Job) {
	s.mu.Lock()
	ws := s.waiters[j.ID]
	delete(s.waiters, j.ID)
	s.mu.Unlock()
	for _, ch := range ws {
		select {
		case ch <- j:
		default:
		}
	}
}

// Retried tells the writes waiting for j that its run failed or was
// refused: they answer Queued at once rather than wait for a retry, which
// runs on the job's own schedule (backoff, Retry-After, pause delay). Wire
// it to outbox.DispatcherConfig.OnRetry. It never blocks.
func (s *Service) Retried(j outbox.Job) { s.Finished(j) }

// outcome is Created with the CRM's ids for a done job, Queued otherwise
// (a dead job is still accepted: it waits for an operator's replay).
func outcome(j outbox.Job) Outcome {
	if j.State != outbox.Done {
		return Outcome{Status: Queued, JobID: j.ID}
	}
	r, _ := timeline.DecodeRecordResult(j)
	return Outcome{Status: Created, JobID: j.ID, RecordID: r.RecordID, CommentID: r.CommentID}
}

// requestHash is the hex SHA-256 of a write's kind and canonical JSON
// (encoding/json sorts map keys, so equal requests hash equally).
func requestHash(kind string, v any) string {
	b, _ := json.Marshal(v) // plain structs and JSON-decoded maps
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
