package interactions

import (
	"errors"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/outbox"
)

// writeError gives a write's error its code and the client its message;
// it is the one place that does for CreateRecord and AddComment. Any error
// it does not know means the write was not stored: unavailable, and
// retryable with the same Idempotency-Key.
func writeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrConflict):
		return holdline.Wrap(holdline.ECONFLICT, "Idempotency-Key",
			"this Idempotency-Key was already used for a different request; send a new key for a new write", err)
	case errors.Is(err, ErrNoRecord):
		return holdline.Wrap(holdline.ECONFLICT, "",
			"the interaction has no record yet: POST /v1/interactions/{interaction_id}/record first", err)
	case errors.Is(err, outbox.ErrInvalid):
		return holdline.Wrap(holdline.EINVALID, "", "the write cannot be queued: "+err.Error(), err)
	}
	return unavailable("the write could not be stored in the outbox; it was not accepted, retry it", err)
}

// unavailable is a retryable EUNAVAILABLE error: the outbox failed.
func unavailable(msg string, err error) error {
	e := holdline.Wrap(holdline.EUNAVAILABLE, "", msg, err)
	e.Retryable = true
	return e
}
