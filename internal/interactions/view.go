package interactions

import (
	"context"
	"fmt"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// View is what holdline knows and has pending for one interaction.
type View struct {
	InteractionID string
	// RecordID is the CRM record, once a record job is done.
	RecordID string
	// Jobs are every job of the interaction, done ones included, in
	// enqueue order.
	Jobs []outbox.Job
	// Recordings are read from the recording jobs, in order of first job.
	Recordings []timeline.Recording
}

// Get returns what holdline has for an interaction. It returns ENOTFOUND
// wrapping ErrUnknown when it has no jobs for it, and EUNAVAILABLE
// (retryable) wrapping the store's error when the outbox cannot be read.
func (s *Service) Get(ctx context.Context, interactionID string) (View, error) {
	jobs, err := s.store.Interaction(ctx, interactionID)
	if err != nil {
		return View{}, unavailable("the outbox could not be read", fmt.Errorf("interactions: get: %w", err))
	}
	if len(jobs) == 0 {
		return View{}, holdline.Wrap(holdline.ENOTFOUND, "interaction_id", "holdline has no writes or recordings for interaction "+interactionID, ErrUnknown)
	}
	return View{InteractionID: interactionID, RecordID: RecordID(jobs, ""), Jobs: jobs, Recordings: timeline.Recordings(jobs)}, nil
}
