package capture

import (
	"errors"
	"fmt"
	"testing"

	"github.com/holdline/holdline"
)

// TestClientError checks that each sentinel Upload returns gets its code,
// field and retryability once, and that errors.Is still finds it.
func TestClientError(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code      string
		field     string
		retryable bool
	}{
		{"unsupported type", fmt.Errorf("%w: %q", ErrUnsupportedType, "text/plain"), holdline.EUNSUPPORTEDMEDIA, "Content-Type", false},
		{"too large", fmt.Errorf("%w: more than 10 bytes", ErrTooLarge), holdline.ETOOLARGE, "", false},
		{"conflict", fmt.Errorf("%w: rec-1", ErrConflict), holdline.ECONFLICT, "X-Recording-Id", false},
		{"no room", fmt.Errorf("%w: disk full", ErrInsufficientStorage), holdline.EINSUFFICIENTSTORAGE, "", true},
		{"body cut", fmt.Errorf("%w: unexpected EOF", ErrBody), holdline.EINVALID, "", false},
		{"digest mismatch keeps its field", invalid("Repr-Digest", "does not match", ErrDigestMismatch), holdline.EINVALID, "Repr-Digest", false},
		{"internal", errors.New("blob: dial tcp 10.0.0.1:443"), holdline.EINTERNAL, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := clientError(tt.err)
			if got := holdline.ErrorCode(err); got != tt.code {
				t.Errorf("ErrorCode(clientError(%v)) = %q, want %q", tt.err, got, tt.code)
			}
			if got := holdline.ErrorField(err); got != tt.field {
				t.Errorf("ErrorField(clientError(%v)) = %q, want %q", tt.err, got, tt.field)
			}
			if got := holdline.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(clientError(%v)) = %v, want %v", tt.err, got, tt.retryable)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("clientError(%v) = %v, no longer wraps it", tt.err, err)
			}
		})
	}
	if clientError(nil) != nil {
		t.Error("clientError(nil) != nil")
	}
}
