package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

func TestReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"policy timeout", &timeoutError{limit: time.Second, err: context.DeadlineExceeded}, "crm: timeout"},
		{"circuit open", fmt.Errorf("crm: find contact: %w", circuitbreaker.ErrOpen), "crm: circuit open"},
		{"bulkhead full", bulkhead.ErrFull, "crm: bulkhead full"},
		{"local rate limit", ratelimiter.ErrExceeded, "crm: rate limited"},
		{"upstream 429", &upstream.StatusError{Code: 429}, "crm: rate limited"},
		{"upstream 503", fmt.Errorf("lookup: %w", &upstream.StatusError{Code: 503}), "crm: http 503"},
		{"caller budget", context.DeadlineExceeded, "crm: budget exhausted"},
		{"caller gone", context.Canceled, "crm: canceled"},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "crm: connection refused"},
		{"reset", resetError(), "crm: connection reset"},
		{"dns", &net.DNSError{Err: "no such host", Name: "x"}, "crm: dns error"},
		{"injected", fmt.Errorf("crm: %w", ErrInjected), "crm: injected fault"},
		{"egress", fmt.Errorf("%w: x", ErrEgressDenied), "crm: egress denied"},
		{"anything else", errors.New("secret-host.internal said no"), "crm: error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason("crm", tt.err); got != tt.want {
				t.Errorf("Reason(crm, %v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestFailover(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Endpoints.Primary = "https://user:pw@acme.my.salesforce.com"
		d.CRM.Endpoints.Secondary = "https://acme-dr.my.salesforce.com"
	})
	d := e.crm()
	if got := d.Endpoint(); got != "https://user:pw@acme.my.salesforce.com" {
		t.Errorf("Endpoint() = %q", got)
	}
	if got := d.Status().Endpoint; got != "https://acme.my.salesforce.com" {
		t.Errorf("Status().Endpoint = %q, want userinfo stripped", got)
	}
	if err := d.SetActiveEndpoint("secondary", "oncall", "region down"); err != nil {
		t.Fatal(err)
	}
	if got := d.Endpoint(); got != "https://acme-dr.my.salesforce.com" {
		t.Errorf("Endpoint() after failover = %q", got)
	}
	st := d.Status()
	if st.ActiveEndpoint != "secondary" || st.EndpointOverride == nil || st.EndpointOverride.Actor != "oncall" {
		t.Errorf("Status() after failover = %+v", st)
	}
	if got := e.metric(t, "holdline_active_endpoint", map[string]string{"dependency": "crm", "endpoint": "secondary"}); got != 1 {
		t.Errorf("holdline_active_endpoint{secondary} = %v, want 1", got)
	}
	if err := d.SetActiveEndpoint("primary", "oncall", "back"); err != nil || d.Status().ActiveEndpoint != "primary" {
		t.Errorf("failback = %v", err)
	}
	if err := e.set.Get("identity").SetActiveEndpoint("secondary", "oncall", "x"); !errors.Is(err, ErrNoSecondary) || holdline.ErrorCode(err) != holdline.ECONFLICT {
		t.Errorf("failover without a secondary = %v, want a conflict wrapping ErrNoSecondary", err)
	}
	if err := d.SetActiveEndpoint("tertiary", "oncall", "x"); holdline.ErrorCode(err) != holdline.EINVALID || holdline.ErrorField(err) != "endpoint" {
		t.Errorf("SetActiveEndpoint(tertiary) = %v, want an invalid error for endpoint", err)
	}
}

func TestStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(d *config.Dependencies) {
			d.CRM.Endpoints.Primary = "https://crm.example"
			d.CRM.Breaker.MinRequests = 100
		})
		d := e.crm()
		addFault(t, e.faults, Fault{Dependency: "crm", Latency: config.Duration(time.Millisecond)})
		for i := range 10 {
			Read(t.Context(), d, "lookup", func(context.Context) (string, error) {
				time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
				if i >= 8 {
					return "", &upstream.StatusError{Code: 502}
				}
				return "ok", nil
			})
		}
		Read(t.Context(), d, "lookup", func(context.Context) (string, error) { return "", &upstream.StatusError{Code: 404} })
		now := time.Now()
		got := d.Status()
		want := DependencyStatus{
			Name:           "crm",
			Tier:           TierCritical,
			Breaker:        "closed",
			BreakerMode:    BreakerAuto,
			ActiveEndpoint: "primary",
			Endpoint:       "https://crm.example",
			Calls1m:        11,
			Failures1m:     2,
			FailureRate1m:  2.0 / 11,
			P50ms:          50, // nearest rank over 0 (the 404), 10, 20, ... 100
			P99ms:          100,
			LastError:      "crm: http 502",
			LastErrorAt:    &now,
			LastSuccessAt:  &now,
			ActiveFaults:   1,
			Auth:           "ok",
			Concurrency:    ConcurrencyStatus{Mode: "fixed", Limit: 64, Min: 64, Max: 64}, // every call returned
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
			t.Errorf("Status() (-want +got):\n%s", diff)
		}
		b, _ := json.Marshal(got)
		var m map[string]any
		json.Unmarshal(b, &m)
		for _, k := range []string{"name", "tier", "breaker", "breaker_mode", "breaker_override", "active_endpoint", "endpoint",
			"endpoint_override", "calls_1m", "failures_1m", "failure_rate_1m", "p50_ms", "p99_ms", "last_error",
			"last_error_at", "last_success_at", "active_faults"} {
			if _, ok := m[k]; !ok {
				t.Errorf("Status JSON lacks %q: %s", k, b)
			}
		}

		time.Sleep(61 * time.Second)
		if st := d.Status(); st.Calls1m != 0 || st.P99ms != 0 {
			t.Errorf("a minute later Status() = %+v, want an empty window", st)
		}
	})
}

func TestTiersAndOrder(t *testing.T) {
	e := newEnv(t, nil)
	var got []string
	for _, d := range e.set.All() {
		got = append(got, d.Name()+"="+string(d.Tier()))
	}
	want := []string{"crm=critical", "identity=supporting", "dialogflow=critical", "blob=critical", "redis=supporting"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("All() (-want +got):\n%s", diff)
	}
	if e.set.Get("erp") != nil {
		t.Error("Get(erp) != nil")
	}
}
