package holdline_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/holdline/holdline"
)

var errSentinel = errors.New("store: full")

func TestErrorCodeFieldMessage(t *testing.T) {
	tests := []struct {
		name                 string
		err                  error
		code, field, message string
	}{
		{"nil", nil, "", "", ""},
		{"plain error is internal", errors.New("dial tcp 10.0.0.1:443"), holdline.EINTERNAL, "", ""},
		{"domain error", holdline.Errorf(holdline.EINVALID, "text", "must be at most %d characters", 256), holdline.EINVALID, "text", "must be at most 256 characters"},
		{"wrapped domain error", fmt.Errorf("flow: %w", holdline.Errorf(holdline.ENOTFOUND, "agent", "no agent")), holdline.ENOTFOUND, "agent", "no agent"},
		{"wrap hides the cause", holdline.Wrap(holdline.EINSUFFICIENTSTORAGE, "", "no room", errSentinel), holdline.EINSUFFICIENTSTORAGE, "", "no room"},
		{"empty code is internal", &holdline.Error{Field: "x"}, holdline.EINTERNAL, "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := holdline.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
			}
			if got := holdline.ErrorField(tt.err); got != tt.field {
				t.Errorf("ErrorField(%v) = %q, want %q", tt.err, got, tt.field)
			}
			if got := holdline.ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.message)
			}
		})
	}
}

func TestErrorUnwrapsToSentinel(t *testing.T) {
	for name, err := range map[string]error{
		"Wrap":          holdline.Wrap(holdline.EINSUFFICIENTSTORAGE, "", "no room", errSentinel),
		"Errorf %w":     holdline.Errorf(holdline.EINVALID, "Repr-Digest", "mismatch: %w", errSentinel),
		"wrapped again": fmt.Errorf("capture: %w", holdline.Wrap(holdline.ECONFLICT, "", "used", errSentinel)),
	} {
		if !errors.Is(err, errSentinel) {
			t.Errorf("%s: errors.Is(%v, errSentinel) = false, want true", name, err)
		}
	}
	if e := holdline.Errorf(holdline.EINVALID, "f", "no cause %d", 1); e.Err != nil {
		t.Errorf("Errorf without %%w: Err = %v, want nil", e.Err)
	}
}

func TestErrorText(t *testing.T) {
	err := holdline.Wrap(holdline.EINVALID, "since", "want a duration", errSentinel)
	if got, want := err.Error(), "invalid: since: want a duration: store: full"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestIsRetryable(t *testing.T) {
	e := &holdline.Error{Code: holdline.EUNAVAILABLE, Retryable: true}
	if !holdline.IsRetryable(fmt.Errorf("x: %w", e)) {
		t.Error("IsRetryable(retryable) = false, want true")
	}
	if holdline.IsRetryable(holdline.Errorf(holdline.EINVALID, "", "bad")) {
		t.Error("IsRetryable(invalid) = true, want false")
	}
	if holdline.IsRetryable(errors.New("x")) {
		t.Error("IsRetryable(plain) = true, want false")
	}
}
