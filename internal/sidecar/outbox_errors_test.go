package sidecar

import (
	"errors"
	"fmt"
	"testing"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/outbox"
)

// TestJobError checks that each outbox admin error gets its code once and
// still wraps its sentinel.
func TestJobError(t *testing.T) {
	tests := []struct {
		err   error
		code  string
		field string
	}{
		{fmt.Errorf("bolt: get j1: %w", outbox.ErrNotFound), holdline.ENOTFOUND, "id"},
		{fmt.Errorf("replay j1: %w", outbox.ErrInflight), holdline.ECONFLICT, "id"},
		{fmt.Errorf("%w: job j1 belongs to no interaction", interactions.ErrNoRecord), holdline.ECONFLICT, ""},
		{errors.New("redis: connection refused"), holdline.EINTERNAL, ""},
	}
	for _, tt := range tests {
		err := jobError("j1", tt.err)
		if got := holdline.ErrorCode(err); got != tt.code {
			t.Errorf("ErrorCode(jobError(%v)) = %q, want %q", tt.err, got, tt.code)
		}
		if got := holdline.ErrorField(err); got != tt.field {
			t.Errorf("ErrorField(jobError(%v)) = %q, want %q", tt.err, got, tt.field)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("jobError(%v) = %v, no longer wraps it", tt.err, err)
		}
	}
	if jobError("j1", nil) != nil {
		t.Error("jobError(nil) != nil")
	}
}
