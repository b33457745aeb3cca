package resilience

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

func faultEnv(t *testing.T) (*env, *Dependency, *hits, string) {
	t.Helper()
	h := &hits{}
	srv := httptest.NewServer(h.wrap(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("real")) }))
	t.Cleanup(srv.Close)
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Endpoints.Primary = srv.URL })
	return e, e.crm(), h, srv.URL
}

func addFault(t *testing.T, f *Faults, ft Fault) Fault {
	t.Helper()
	if ft.Duration == 0 {
		ft.Duration = config.Duration(time.Minute)
	}
	ft, err := f.Add(ft)
	if err != nil {
		t.Fatalf("Add(%+v) = %v", ft, err)
	}
	return ft
}

func TestFaultStatus(t *testing.T) {
	for _, code := range []int{503, 429} {
		e, d, h, url := faultEnv(t)
		addFault(t, e.faults, Fault{Dependency: "crm", ErrorRate: 1, Status: code})
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := d.HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("Do = %v, want a synthetic %d", err, code)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("status = %d, want %d", resp.StatusCode, code)
		}
		if code == 429 && resp.Header.Get("Retry-After") != "1" {
			t.Errorf("429 Retry-After = %q, want 1", resp.Header.Get("Retry-After"))
		}
		if h.n.Load() != 0 {
			t.Errorf("the server was reached despite the fault")
		}
		_, err = Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
			return httpGet(ctx, d, http.MethodGet, url)
		})
		want := map[int]string{503: "crm: http 503", 429: "crm: rate limited"}[code]
		if got := Reason("crm", err); got != want {
			t.Errorf("Reason = %q, want %q", got, want)
		}
	}
}

func TestFaultResetAndInjected(t *testing.T) {
	e, d, _, url := faultEnv(t)
	ft := addFault(t, e.faults, Fault{Dependency: "crm", ErrorRate: 1, Reset: true})
	_, err := httpGet(t.Context(), d, http.MethodGet, url)
	if !errors.Is(err, syscall.ECONNRESET) || Reason("crm", err) != "crm: connection reset" {
		t.Errorf("reset fault: err = %v (%q), want ECONNRESET", err, Reason("crm", err))
	}
	e.faults.Delete(ft.ID)
	addFault(t, e.faults, Fault{Dependency: "crm", ErrorRate: 1})
	_, err = httpGet(t.Context(), d, http.MethodGet, url)
	if !errors.Is(err, ErrInjected) || Reason("crm", err) != "crm: injected fault" {
		t.Errorf("plain fault: err = %v, want ErrInjected", err)
	}
	// Other dependencies are untouched.
	if err := e.set.Get("identity").Inject(t.Context()); err != nil {
		t.Errorf("identity.Inject = %v with a crm-only fault", err)
	}
	// Faults trip the breaker like real failures.
	for range 4 {
		Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
			return httpGet(ctx, d, http.MethodGet, url)
		})
	}
	if d.BreakerAllows() {
		t.Error("injected failures did not open the breaker")
	}
	if got := d.Status().ActiveFaults; got != 1 {
		t.Errorf("Status().ActiveFaults = %d, want 1", got)
	}
}

func TestFaultLatencyHTTP(t *testing.T) {
	e, d, h, url := faultEnv(t)
	addFault(t, e.faults, Fault{Dependency: "crm", Latency: config.Duration(80 * time.Millisecond)})
	start := time.Now()
	body, err := httpGet(t.Context(), d, http.MethodGet, url)
	if err != nil || body != "real" {
		t.Fatalf("GET = %q, %v", body, err)
	}
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Errorf("GET took %v, want at least the 80ms fault latency", el)
	}
	if h.n.Load() != 1 {
		t.Errorf("a latency-only fault should still reach the server")
	}
}

func TestFaultLatencyHonoursContextAndExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFaults(nil)
		e := newEnv(t, nil, func(o *Options) { o.Faults = f })
		d := e.set.Get("dialogflow")
		if _, err := f.Add(Fault{Dependency: "dialogflow", Latency: config.Duration(5 * time.Second), Duration: config.Duration(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := d.Inject(t.Context()); err != nil || time.Since(start) != 5*time.Second {
			t.Errorf("Inject = %v after %v, want nil after 5s", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start = time.Now()
		if err := d.Inject(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Errorf("Inject with a 1s budget = %v after %v, want DeadlineExceeded after 1s", err, time.Since(start))
		}
		time.Sleep(time.Minute)
		if got := f.List(); len(got) != 0 {
			t.Errorf("List() after expiry = %v, want none", got)
		}
		if err := d.Inject(t.Context()); err != nil {
			t.Errorf("Inject after expiry = %v", err)
		}
	})
}

func TestFaultInjectErrors(t *testing.T) {
	e := newEnv(t, nil)
	d := e.set.Get("redis")
	ft := addFault(t, e.faults, Fault{Dependency: "redis", ErrorRate: 1, Status: 503})
	var se *upstream.StatusError
	if err := d.Inject(t.Context()); !errors.As(err, &se) || se.Code != 503 {
		t.Errorf("Inject = %v, want a 503 upstream.StatusError", err)
	}
	e.faults.Delete(ft.ID)
	addFault(t, e.faults, Fault{Dependency: "redis", ErrorRate: 1})
	if err := d.Inject(t.Context()); !errors.Is(err, ErrInjected) {
		t.Errorf("Inject = %v, want ErrInjected", err)
	}
}

func TestFaultErrorRateIsSeeded(t *testing.T) {
	e := newEnv(t, nil)
	addFault(t, e.faults, Fault{Dependency: "blob", ErrorRate: 0.3})
	d := e.set.Get("blob")
	failed := 0
	for range 1000 {
		if d.Inject(t.Context()) != nil {
			failed++
		}
	}
	if failed < 230 || failed > 370 {
		t.Errorf("%d of 1000 calls failed at error_rate 0.3", failed)
	}
}

func TestFaultsListDelete(t *testing.T) {
	f := NewFaults(nil)
	a := addFault(t, f, Fault{Dependency: "crm", ErrorRate: 1, Actor: "oncall"})
	b := addFault(t, f, Fault{Dependency: "identity", Latency: config.Duration(time.Second)})
	if a.ID == "" || a.ID == b.ID {
		t.Fatalf("IDs %q and %q, want distinct non-empty", a.ID, b.ID)
	}
	if a.ExpiresAt.Sub(a.CreatedAt) != time.Minute {
		t.Errorf("ExpiresAt - CreatedAt = %v, want the 1m duration", a.ExpiresAt.Sub(a.CreatedAt))
	}
	if got := f.List(); len(got) != 2 {
		t.Errorf("List() = %v, want 2", got)
	}
	if got := f.Active("crm"); len(got) != 1 || got[0].ID != a.ID {
		t.Errorf("Active(crm) = %v", got)
	}
	if !f.Delete(a.ID) || f.Delete(a.ID) {
		t.Error("Delete should succeed once")
	}
	if got := f.Active("crm"); len(got) != 0 {
		t.Errorf("Active(crm) after Delete = %v", got)
	}
}

func TestFaultValidation(t *testing.T) {
	d := config.Duration(time.Minute)
	tests := []struct {
		name  string
		fault Fault
		field string
	}{
		{"unknown dependency", Fault{Dependency: "erp", ErrorRate: 1, Duration: d}, "dependency"},
		{"error rate above 1", Fault{Dependency: "crm", ErrorRate: 1.5, Duration: d}, "error_rate"},
		{"negative error rate", Fault{Dependency: "crm", ErrorRate: -0.1, Duration: d}, "error_rate"},
		{"status below 400", Fault{Dependency: "crm", ErrorRate: 1, Status: 200, Duration: d}, "status"},
		{"status above 599", Fault{Dependency: "crm", ErrorRate: 1, Status: 600, Duration: d}, "status"},
		{"zero duration", Fault{Dependency: "crm", ErrorRate: 1}, "duration"},
		{"duration over 24h", Fault{Dependency: "crm", ErrorRate: 1, Duration: config.Duration(25 * time.Hour)}, "duration"},
		{"negative latency", Fault{Dependency: "crm", Latency: -1, ErrorRate: 1, Duration: d}, "latency"},
		{"does nothing", Fault{Dependency: "crm", Duration: d}, "error_rate"},
	}
	f := NewFaults(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Add(tt.fault)
			if holdline.ErrorCode(err) != holdline.EINVALID || holdline.ErrorField(err) != tt.field {
				t.Errorf("Add = %v, want an invalid error for %q", err, tt.field)
			}
		})
	}
	if n := len(f.List()); n != 0 {
		t.Errorf("%d invalid faults were added", n)
	}
}

// TestFaultOnOneEndpoint: a fault limited to the primary leaves the
// secondary healthy, so an operator's failover is what a drill exercises.
func TestFaultOnOneEndpoint(t *testing.T) {
	var primaryHits, secondaryHits int
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { primaryHits++ }))
	defer primary.Close()
	secondary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { secondaryHits++ }))
	defer secondary.Close()
	faults := NewFaults(nil)
	deps := config.Default().Dependencies
	deps.CRM.Endpoints.Primary, deps.CRM.Endpoints.Secondary = primary.URL, secondary.URL
	set, err := NewSet(deps, Options{Logger: slog.New(slog.DiscardHandler), AllowLoopback: true, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	crm := set.Get("crm")
	if _, err := faults.Add(Fault{Dependency: "crm", Endpoint: "primary", ErrorRate: 1, Status: 503, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	call := func() int {
		resp, err := crm.HTTPClient().Get(crm.Endpoint() + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call(); code != 503 || primaryHits != 0 {
		t.Fatalf("primary with a primary-only fault = %d (hits %d), want an injected 503", code, primaryHits)
	}
	if err := crm.SetActiveEndpoint("secondary", "oncall", "primary sick"); err != nil {
		t.Fatal(err)
	}
	if code := call(); code != 200 || secondaryHits != 1 {
		t.Fatalf("secondary with a primary-only fault = %d (hits %d), want 200 from the secondary", code, secondaryHits)
	}
	if _, err := faults.Add(Fault{Dependency: "crm", Endpoint: "tertiary", ErrorRate: 1, Duration: config.Duration(time.Minute)}); err == nil {
		t.Errorf("Add with endpoint tertiary succeeded, want an invalid error for endpoint")
	}
}
