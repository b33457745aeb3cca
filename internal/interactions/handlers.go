package interactions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/internal/upstream"
	"github.com/holdline/holdline/outbox"
)

// errNoRecordYet is a handler's retryable error for a comment whose
// interaction has no done record job (its record job was purged while
// dead, say). Ordering makes it rare: a comment runs after the record job
// enqueued before it.
var errNoRecordYet = errors.New("interactions: the interaction has no CRM record yet")

// Handlers returns the outbox handlers for crm.create_record,
// crm.add_comment and crm.move_record. Each makes one call through the CRM
// dependency's policy chain, as a write (never retried there: the outbox
// retries, with the job's key). A new record goes to the active endpoint
// and its result names that endpoint; a write to an existing record goes
// to the endpoint that holds it (records.Writer), and is held
// (outbox.ErrHeld) while that endpoint is not the active one.
//
// Errors: the breaker open, the bulkhead full, the rate limiter
// exceeded or a 401 (the credentials refused: status auth_failed) wrap
// outbox.ErrPaused (no attempt spent, never dead); a permanent answer
// (upstream.IsPermanent) or a record the CRM does not have
// (crm.ErrNotFound) is outbox.Permanent (the job goes dead and waits for
// a replay); anything else is retried with backoff.
func Handlers(records *Records) map[string]outbox.Handler {
	h := &handlers{r: records}
	return map[string]outbox.Handler{
		timeline.KindCreateRecord: h.createRecord,
		timeline.KindAddComment:   h.addComment,
		timeline.KindMoveRecord:   h.moveRecord,
	}
}

type handlers struct{ r *Records }

func (h *handlers) createRecord(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
	p, err := timeline.DecodeRecord(*j)
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("read payload: %w", err))
	}
	jobs, err := h.r.store.Interaction(ctx, j.InteractionID)
	if err != nil {
		return nil, err
	}
	if ref := Record(jobs, j.ID); ref.ID != "" {
		// The interaction has its record: append this write to it.
		recordID, c, err := h.r.writerIn(ctx, jobs, ref)
		if err != nil {
			return nil, err
		}
		body := strings.TrimSpace(p.Record.Subject + "\n\n" + p.Record.Description)
		id, err := resilience.Write(ctx, h.r.dep, "add_comment", func(ctx context.Context) (string, error) {
			return c.AddComment(ctx, recordID, crm.Comment{Body: body}, j.IdempotencyKey)
		})
		if err != nil {
			return nil, jobError(err)
		}
		return json.Marshal(timeline.RecordResult{RecordID: recordID, CommentID: id, Appended: true})
	}
	endpoint, c, err := h.r.active()
	if err != nil {
		return nil, err
	}
	id, err := resilience.Write(ctx, h.r.dep, "create_record", func(ctx context.Context) (string, error) {
		return c.CreateRecord(ctx, p.Record, j.IdempotencyKey)
	})
	if err != nil {
		return nil, jobError(err)
	}
	if id == "" {
		return nil, errors.New("the CRM answered without a record id")
	}
	return json.Marshal(timeline.RecordResult{RecordID: id, Endpoint: endpoint})
}

func (h *handlers) addComment(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
	p, err := timeline.DecodeComment(*j)
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("read payload: %w", err))
	}
	recordID, c, err := h.r.Writer(ctx, j)
	if err != nil {
		return nil, err
	}
	id, err := resilience.Write(ctx, h.r.dep, "add_comment", func(ctx context.Context) (string, error) {
		return c.AddComment(ctx, recordID, p.Comment, j.IdempotencyKey)
	})
	if err != nil {
		return nil, jobError(err)
	}
	return json.Marshal(timeline.RecordResult{RecordID: recordID, CommentID: id})
}

// moveRecord re-creates the interaction's record on the payload's endpoint
// (the same record the held jobs before it wrote to, when they did) and
// makes it the interaction's record from then on. A record already there
// is kept. It is held while the target is not the active endpoint.
func (h *handlers) moveRecord(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
	p, err := timeline.DecodeMove(*j)
	if err != nil {
		return nil, outbox.Permanent(fmt.Errorf("read payload: %w", err))
	}
	jobs, err := h.r.store.Interaction(ctx, j.InteractionID)
	if err != nil {
		return nil, err
	}
	ref := Record(jobs, j.ID)
	if ref.ID == "" {
		return nil, errNoRecordYet
	}
	if ref.Endpoint == p.To {
		return json.Marshal(timeline.RecordResult{RecordID: ref.ID, Endpoint: ref.Endpoint})
	}
	if active := h.r.eps.Active(); active != p.To {
		return nil, fmt.Errorf("%w: the record is to move to the %s CRM endpoint and the active one is %s", outbox.ErrHeld, p.To, active)
	}
	id, err := h.r.recreate(ctx, jobs, p.To)
	if err != nil {
		return nil, err
	}
	return json.Marshal(timeline.RecordResult{RecordID: id, Endpoint: p.To})
}

// jobError tells the Dispatcher what a failed CRM call means for the job.
func jobError(err error) error {
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen), errors.Is(err, bulkhead.ErrFull), errors.Is(err, ratelimiter.ErrExceeded):
		return fmt.Errorf("%w: %w", outbox.ErrPaused, err)
	case upstream.IsAuthFailure(err):
		// The credentials are refused, not the write: it waits (no
		// attempt spent, never dead) until they are accepted again.
		return fmt.Errorf("%w: credentials refused (auth_failed): %w", outbox.ErrPaused, err)
	case upstream.IsPermanent(err), errors.Is(err, crm.ErrNotFound):
		return outbox.Permanent(err)
	}
	return err
}
