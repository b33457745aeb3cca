package interactions

import (
	"errors"
	"fmt"
	"testing"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/outbox"
)

// TestWriteError checks that each error a write returns gets its code,
// field and retryability once, and that errors.Is still finds the cause.
func TestWriteError(t *testing.T) {
	storeDown := errors.New("bolt: disk I/O error")
	tests := []struct {
		name      string
		err       error
		code      string
		field     string
		retryable bool
	}{
		{"key reused", ErrConflict, holdline.ECONFLICT, "Idempotency-Key", false},
		{"comment before record", ErrNoRecord, holdline.ECONFLICT, "", false},
		{"job refused", fmt.Errorf("interactions: crm.create_record: %w", outbox.ErrInvalid), holdline.EINVALID, "", false},
		{"store down", fmt.Errorf("interactions: crm.create_record: %w", storeDown), holdline.EUNAVAILABLE, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := writeError(tt.err)
			if got := holdline.ErrorCode(err); got != tt.code {
				t.Errorf("ErrorCode(writeError(%v)) = %q, want %q", tt.err, got, tt.code)
			}
			if got := holdline.ErrorField(err); got != tt.field {
				t.Errorf("ErrorField(writeError(%v)) = %q, want %q", tt.err, got, tt.field)
			}
			if got := holdline.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(writeError(%v)) = %v, want %v", tt.err, got, tt.retryable)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("writeError(%v) = %v, no longer wraps it", tt.err, err)
			}
		})
	}
	if writeError(nil) != nil {
		t.Error("writeError(nil) != nil")
	}
}
