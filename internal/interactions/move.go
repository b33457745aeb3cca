package interactions

import (
	"context"
	"errors"
	"fmt"

	"github.com/holdline/holdline/internal/timeline"
)

// ErrBadEndpoint is returned by MoveRecord for an endpoint other than
// primary or secondary.
var ErrBadEndpoint = errors.New("interactions: endpoint is not primary or secondary")

// MoveRecord asks for the interaction's CRM record to be re-created on
// endpoint to (an operator's `holdline outbox replay --to`, when the
// endpoint that created the record is gone for good). It enqueues a
// crm.move_record job behind the interaction's other jobs: held writes
// before it go to the re-created record as soon as they run (replay them
// to run them now), and the move job then makes that record the
// interaction's record. Moving to the endpoint that already holds the
// record changes nothing. It is idempotent per record and endpoint.
// Errors: ErrBadEndpoint, ErrNoRecord when the interaction has no done
// record job, and the store's.
func (s *Service) MoveRecord(ctx context.Context, interactionID, to, reason string) error {
	if to != Primary && to != Secondary {
		return fmt.Errorf("%w: %q", ErrBadEndpoint, to)
	}
	jobs, err := s.store.Interaction(ctx, interactionID)
	if err != nil {
		return fmt.Errorf("interactions: move record: %w", err)
	}
	ref := Record(jobs, "")
	if ref.ID == "" {
		return ErrNoRecord
	}
	if ref.Endpoint == to {
		return nil
	}
	key := "move:" + requestHash(timeline.KindMoveRecord, []string{interactionID, ref.Endpoint, ref.ID, to})[:32]
	job, err := timeline.MoveRecordJob(interactionID, key, timeline.MovePayload{To: to, From: ref, Reason: reason})
	if err != nil {
		return fmt.Errorf("interactions: move record: %w", err)
	}
	_, _, err = s.queue.Enqueue(ctx, job)
	if err != nil {
		return fmt.Errorf("interactions: move record: %w", err)
	}
	return nil
}
