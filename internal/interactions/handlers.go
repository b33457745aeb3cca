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
	"github.com/holdline/holdline/outbox"
)

// errNoRecordYet is a handler's retryable error for a comment whose
// interaction has no done record job (its record job was purged while
// dead, say). Ordering makes it rare: a comment runs after the record job
// enqueued before it.
var errNoRecordYet = errors.New("interactions: the interaction has no CRM record yet")

// Handlers returns the outbox handlers for crm.create_record and
// crm.add_comment. Each makes one call through dep's policy chain, as a
// write (never retried there: the outbox retries, with the job's key),
// and reads the interaction's record id from store.
//
// Errors: the breaker open, the bulkhead full or the rate limiter
// exceeded wrap outbox.ErrPaused (no attempt spent); a permanent answer
// (resilience.IsPermanent) or a record the CRM does not have
// (crm.ErrNotFound) is outbox.Permanent (the job goes dead and waits for
// a replay); anything else is retried with backoff.
func Handlers(store outbox.Store, client crm.Client, dep *resilience.Dependency) map[string]outbox.Handler {
	h := &handlers{store: store, client: client, dep: dep}
	return map[string]outbox.Handler{
		KindCreateRecord: h.createRecord,
		KindAddComment:   h.addComment,
	}
}

type handlers struct {
	store  outbox.Store
	client crm.Client
	dep    *resilience.Dependency
}

func (h *handlers) createRecord(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
	var p recordPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return nil, outbox.Permanent(fmt.Errorf("read payload: %w", err))
	}
	existing, err := h.recordID(ctx, j)
	if err != nil {
		return nil, err
	}
	if existing != "" {
		// The interaction has its record: append this write to it.
		body := strings.TrimSpace(p.Record.Subject + "\n\n" + p.Record.Description)
		id, err := resilience.Get(ctx, h.dep, "add_comment", false, func(ctx context.Context) (string, error) {
			return h.client.AddComment(ctx, existing, crm.Comment{Body: body}, j.IdempotencyKey)
		})
		if err != nil {
			return nil, jobError(err)
		}
		return json.Marshal(result{RecordID: existing, CommentID: id, Appended: true})
	}
	id, err := resilience.Get(ctx, h.dep, "create_record", false, func(ctx context.Context) (string, error) {
		return h.client.CreateRecord(ctx, p.Record, j.IdempotencyKey)
	})
	if err != nil {
		return nil, jobError(err)
	}
	if id == "" {
		return nil, errors.New("the CRM answered without a record id")
	}
	return json.Marshal(result{RecordID: id})
}

func (h *handlers) addComment(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
	var p commentPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return nil, outbox.Permanent(fmt.Errorf("read payload: %w", err))
	}
	recordID, err := h.recordID(ctx, j)
	if err != nil {
		return nil, err
	}
	if recordID == "" {
		return nil, errNoRecordYet
	}
	id, err := resilience.Get(ctx, h.dep, "add_comment", false, func(ctx context.Context) (string, error) {
		return h.client.AddComment(ctx, recordID, p.Comment, j.IdempotencyKey)
	})
	if err != nil {
		return nil, jobError(err)
	}
	return json.Marshal(result{RecordID: recordID, CommentID: id})
}

// recordID returns the record id from the first done record job of j's
// interaction enqueued before j, or "".
func (h *handlers) recordID(ctx context.Context, j *outbox.Job) (string, error) {
	jobs, err := h.store.Interaction(ctx, j.InteractionID)
	if err != nil {
		return "", err
	}
	return RecordID(jobs, j.ID), nil
}

// RecordID returns the record id in the result of the first done
// crm.create_record job among jobs (in ID order) whose ID sorts before
// before ("" for no bound), or "" when there is none. Handlers of other
// kinds (the recording attach) use it to find the record they write to.
func RecordID(jobs []outbox.Job, before string) string {
	for _, o := range jobs {
		if before != "" && o.ID >= before {
			break
		}
		if o.Kind != KindCreateRecord || o.State != outbox.Done {
			continue
		}
		var r result
		if json.Unmarshal(o.Result, &r) == nil && r.RecordID != "" {
			return r.RecordID
		}
	}
	return ""
}

// jobError tells the Dispatcher what a failed CRM call means for the job.
func jobError(err error) error {
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen), errors.Is(err, bulkhead.ErrFull), errors.Is(err, ratelimiter.ErrExceeded):
		return fmt.Errorf("%w: %w", outbox.ErrPaused, err)
	case resilience.IsPermanent(err), errors.Is(err, crm.ErrNotFound):
		return outbox.Permanent(err)
	}
	return err
}
