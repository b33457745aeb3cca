package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
	"github.com/holdline/holdline/outbox"
)

// TestDispatcherHonoursRetryAfter: a handler failing with a CRM's 429 and
// Retry-After is tried again no sooner than Retry-After, and never later
// than the backoff's max; the done job shows no last error.
func TestDispatcherHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{"Retry-After above the backoff", 10 * time.Second, 10 * time.Second},
		{"Retry-After capped by backoff max", time.Hour, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls []time.Time
				handler := func(ctx context.Context, j *outbox.Job) (json.RawMessage, error) {
					calls = append(calls, time.Now())
					if len(calls) == 1 {
						return nil, fmt.Errorf("crm: add comment: %w", &upstream.StatusError{Code: 429, RetryAfter: tc.retryAfter})
					}
					return json.RawMessage(`{}`), nil
				}
				h := start(t, nil, map[string]outbox.Handler{"k": handler}, outbox.DispatcherConfig{
					PollInterval: 10 * time.Millisecond,
					Backoff:      config.Backoff{Initial: config.Duration(time.Second), Max: config.Duration(20 * time.Second), MaxElapsed: config.Duration(time.Hour)},
				})
				j := h.enqueue(t, outbox.Job{Kind: "k"})
				got := h.waitState(t, j.ID, outbox.Done, 2*time.Hour)
				if len(calls) != 2 {
					t.Fatalf("handler ran %d times, want 2", len(calls))
				}
				// Fake time: the gap is the delay plus at most one poll.
				if gap := calls[1].Sub(calls[0]); gap < tc.want || gap > tc.want+100*time.Millisecond {
					t.Errorf("retry came after %v, want %v (plus a poll)", gap, tc.want)
				}
				if got.LastError != "" {
					t.Errorf("done job LastError = %q, want none", got.LastError)
				}
			})
		})
	}
}
