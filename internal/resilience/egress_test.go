package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"

	"github.com/holdline/holdline/internal/config"
)

func TestEgressDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	lookup := staticLookup(map[string]string{
		"api.crm.test":      "127.0.0.1",
		"rebind.crm.test":   "169.254.169.254",
		"mixed.crm.test":    "127.0.0.1,169.254.169.254",
		"internal.crm.test": "10.1.2.3",
		"v6meta.crm.test":   "fe80::1",
		"elsewhere.test":    "127.0.0.1",
		"localhost":         "127.0.0.1",
	})
	tests := []struct {
		name     string
		allow    []string
		loopback bool
		host     string
		wantOK   bool
	}{
		{"allowed host resolving to loopback in dev mode", []string{"*.crm.test"}, true, "api.crm.test", true},
		{"allowed exact host in dev mode", []string{"api.crm.test"}, true, "api.crm.test", true},
		{"allowed host resolving to loopback outside dev mode", []string{"*.crm.test"}, false, "api.crm.test", false},
		{"host not in allowlist", []string{"*.crm.test"}, false, "elsewhere.test", false},
		{"pattern does not match the apex", []string{"*.api.crm.test"}, false, "api.crm.test", false},
		{"allowed name rebinding to the metadata service", []string{"*.crm.test"}, true, "rebind.crm.test", false},
		{"one of several addresses is metadata", []string{"*.crm.test"}, true, "mixed.crm.test", false},
		{"allowed name resolving to a private address", []string{"*.crm.test"}, true, "internal.crm.test", false},
		{"allowed name resolving to IPv6 link-local", []string{"*.crm.test"}, true, "v6meta.crm.test", false},
		{"IP inside an allowed CIDR", []string{"127.0.0.0/8"}, false, "127.0.0.1", true},
		{"IP listed exactly", []string{"127.0.0.1"}, false, "127.0.0.1", true},
		{"IP outside every CIDR", []string{"10.0.0.0/8", "*.crm.test"}, false, "127.0.0.1", false},
		{"unlisted name resolving into an allowed CIDR", []string{"127.0.0.0/8"}, false, "elsewhere.test", true},
		{"loopback IP in dev mode whatever the list", []string{"*.crm.test"}, true, "127.0.0.1", true},
		{"metadata IP even in dev mode", []string{"*.crm.test"}, true, "169.254.169.254", false},
		{"localhost allows the loopback address", []string{"localhost"}, false, "127.0.0.1", true},
		{"localhost allows the name localhost", []string{"localhost"}, false, "localhost", true},
		{"localhost allows no other address", []string{"localhost"}, false, "internal.crm.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(d *config.Dependencies) {
				d.CRM.Endpoints.Primary = "https://api.crm.test"
				d.CRM.Allow = tt.allow
			}, func(o *Options) { o.Lookup = lookup; o.AllowLoopback = tt.loopback })
			d := e.crm()
			_, err := httpGet(t.Context(), d, http.MethodGet, "http://"+tt.host+":"+port+"/")
			if tt.wantOK && err != nil {
				t.Fatalf("GET %s = %v, want allowed", tt.host, err)
			}
			if !tt.wantOK {
				if !errors.Is(err, ErrEgressDenied) {
					t.Fatalf("GET %s = %v, want ErrEgressDenied", tt.host, err)
				}
				if got := Reason("crm", err); got != "crm: egress denied" {
					t.Errorf("Reason = %q", got)
				}
			}
		})
	}
}

func TestEgressDefaultsToEndpointHosts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	e := newEnv(t, func(d *config.Dependencies) { d.CRM.Endpoints.Primary = srv.URL },
		func(o *Options) { o.AllowLoopback = false })
	d := e.crm()
	if _, err := httpGet(t.Context(), d, http.MethodGet, srv.URL); err != nil {
		t.Errorf("GET own endpoint = %v, want allowed", err)
	}
	u, _ := url.Parse(srv.URL)
	if _, err := httpGet(t.Context(), d, http.MethodGet, "http://127.0.0.2:"+u.Port()); !errors.Is(err, ErrEgressDenied) {
		t.Errorf("GET another loopback address = %v, want ErrEgressDenied", err)
	}
}

func TestEgressDenialIsNotRetriedNorABreakerFailure(t *testing.T) {
	e := newEnv(t, func(d *config.Dependencies) {
		d.CRM.Allow = []string{"*.crm.test"}
		d.CRM.Retry.MaxAttempts = 3
	}, func(o *Options) { o.AllowLoopback = false })
	d := e.crm()
	calls := 0
	for range 10 {
		Read(t.Context(), d, "lookup", func(ctx context.Context) (string, error) {
			calls++
			return httpGet(ctx, d, http.MethodGet, "http://169.254.169.254/latest/meta-data/")
		})
	}
	if calls != 10 {
		t.Errorf("fn ran %d times for 10 calls, want 10 (no retries)", calls)
	}
	if !d.BreakerAllows() {
		t.Error("egress denials opened the breaker")
	}
}

func TestAllowlistPublicAddresses(t *testing.T) {
	a, err := newAllowlist("crm", "dependencies.crm", config.Policy{Allow: []string{"*.my.salesforce.com", "168.86.128.0/18"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		ip   string
		ok   bool
	}{
		{"acme.my.salesforce.com", "13.110.1.1", true},
		{"acme.my.salesforce.com", "169.254.169.254", false},
		{"acme.my.salesforce.com", "127.0.0.1", false},
		{"acme.my.salesforce.com", "192.168.1.1", false},
		{"acme.my.salesforce.com", "0.0.0.0", false},
		{"acme.my.salesforce.com", "::ffff:169.254.169.254", false},
		{"evil.example", "13.110.1.1", false},
		{"evil.example", "168.86.130.5", true},
		{"168.86.130.5", "168.86.130.5", true},
	}
	for _, tt := range tests {
		err := a.check(tt.host, a.nameAllowed(tt.host), netip.MustParseAddr(tt.ip))
		if (err == nil) != tt.ok {
			t.Errorf("check(%s -> %s) = %v, want allowed=%v", tt.host, tt.ip, err, tt.ok)
		}
	}
}

func TestNewSetReportsEveryProblem(t *testing.T) {
	deps := config.Default().Dependencies
	deps.CRM.Allow = []string{"not a host!"}
	deps.Redis.Breaker.OpenFor = 0
	deps.Blob.Bulkhead.MaxConcurrent = 0
	_, err := NewSet(deps, Options{})
	var problems []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		for _, e := range e.(interface{ Unwrap() []error }).Unwrap() {
			var p *config.Problem
			if errors.As(e, &p) {
				problems = append(problems, p.Path)
			}
		}
	}
	want := map[string]bool{"dependencies.crm.allow[0]": true, "dependencies.redis.breaker.open_for": true, "dependencies.blob.bulkhead.max_concurrent": true}
	if len(problems) != len(want) {
		t.Fatalf("NewSet problems = %v, want %v", problems, want)
	}
	for _, p := range problems {
		if !want[p] {
			t.Errorf("unexpected problem %s", p)
		}
	}
}
