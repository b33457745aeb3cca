package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/holdline/holdline/internal/config"
)

// TestReasonDoesNotDependOnWhichTimerFiresFirst: a transport that reports
// the deadline itself (gRPC's DEADLINE_EXCEEDED from the server, say) can
// answer before the context's own timer has fired. The reason must still
// name the deadline that cut the call: the policy timeout when it was the
// earlier, the caller's budget otherwise.
func TestReasonDoesNotDependOnWhichTimerFiresFirst(t *testing.T) {
	grpcDeadline := status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	past := func() time.Time { return time.Now().Add(-time.Millisecond) }
	future := func() time.Time { return time.Now().Add(time.Hour) }
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	tests := []struct {
		name     string
		ctx      context.Context
		deadline func() time.Time // the policy deadline
		err      error
		want     cut
	}{
		{"grpc deadline, policy deadline passed, timer not fired", context.Background(), past, grpcDeadline, cutByPolicy},
		{"os deadline, policy deadline passed, timer not fired", context.Background(), past, os.ErrDeadlineExceeded, cutByPolicy},
		{"grpc deadline, caller deadline earlier and passed", expired, future, grpcDeadline, cutByCaller},
		{"grpc deadline before either deadline: the transport's own", context.Background(), future, grpcDeadline, cutNone},
		{"other error after the policy deadline, timer not fired", context.Background(), past, errors.New("reset"), cutNone},
		{"caller cancelled", canceled, past, grpcDeadline, cutNone},
		{"no error", context.Background(), past, nil, cutNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// tctx stands for the policy context whose timer has not fired yet.
			if got := expiredBy(tt.ctx, tt.ctx, tt.deadline(), tt.err); got != tt.want {
				t.Errorf("expiredBy(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestTransportDeadlineReasons drives Write, and Read with retries
// configured, with an attempt that ignores its context and reports the
// deadline the way a gRPC server does, at the very instant the deadline
// passes, so the context timer and the answer race. Whichever wins, the
// reason is the same, and a deadline is never retried.
func TestTransportDeadlineReasons(t *testing.T) {
	tests := []struct {
		name   string
		budget time.Duration // the caller's deadline; 0 for none
		want   string
	}{
		{"policy timeout first", 0, "crm: timeout"},
		{"policy timeout before the budget", 500 * time.Millisecond, "crm: timeout"},
		{"budget before the policy timeout", 50 * time.Millisecond, "crm: budget exhausted"},
		{"budget equal to the policy timeout", 100 * time.Millisecond, "crm: budget exhausted"},
	}
	entries := []struct {
		name string
		call func(context.Context, *Dependency, string, func(context.Context) (string, error)) (string, error)
	}{
		{"write", Write[string]},
		{"read", Read[string]},
	}
	for _, entry := range entries {
		for _, tt := range tests {
			t.Run(entry.name+"/"+tt.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					e := newEnv(t, func(d *config.Dependencies) {
						d.CRM.Timeout = config.Duration(100 * time.Millisecond)
						d.CRM.Retry.MaxAttempts = 3
					})
					ctx := t.Context()
					if tt.budget > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, tt.budget)
						defer cancel()
					}
					calls := 0
					_, err := entry.call(ctx, e.crm(), "lookup", func(ctx context.Context) (string, error) {
						calls++
						dl, _ := ctx.Deadline()
						time.Sleep(time.Until(dl)) // the server's own deadline, not ctx.Done()
						return "", status.Error(codes.DeadlineExceeded, "context deadline exceeded")
					})
					if got := Reason("crm", err); got != tt.want {
						t.Errorf("Reason = %q (%v), want %q", got, err, tt.want)
					}
					if calls != 1 {
						t.Errorf("fn called %d times, want 1: a deadline is not retried", calls)
					}
				})
			})
		}
	}
}

// TestFaultsListIsNeverNull: the status page and the admin API send the
// active faults as an array, [] when there are none, as the spec says.
func TestFaultsListIsNeverNull(t *testing.T) {
	b, err := json.Marshal(NewFaults(nil).List())
	if err != nil || string(b) != "[]" {
		t.Errorf("json of an empty Faults.List() = %s, %v; want []", b, err)
	}
}
