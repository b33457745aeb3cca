package sidecar

import (
	"errors"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/outbox"
)

// jobError gives the errors of the admin API's outbox operations on job id
// their code and the operator their message; it is the one place that
// does. Other errors pass unchanged (internal).
func jobError(id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, outbox.ErrNotFound):
		return holdline.Wrap(holdline.ENOTFOUND, "id", "no outbox job "+id, err)
	case errors.Is(err, outbox.ErrInflight):
		return holdline.Wrap(holdline.ECONFLICT, "id", "job "+id+" is running now; replay it once it has an outcome", err)
	case errors.Is(err, interactions.ErrNoRecord):
		return holdline.Wrap(holdline.ECONFLICT, "", "its interaction has no CRM record to move", err)
	}
	return err
}
