package resilience

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
)

// TestPublicIPRefusesHiddenInternalRanges: a name matched by a domain
// pattern may only resolve to a public address. Ranges that are not
// "private" to net/netip but are not public hosts either, and IPv6 forms
// that embed an IPv4 address, are refused.
func TestPublicIPRefusesHiddenInternalRanges(t *testing.T) {
	a := &allowlist{dep: "crm"}
	for _, tt := range []struct {
		ip   string
		want bool
	}{
		{"203.0.113.10", true},
		{"2606:4700::1111", true},
		{"100.64.0.1", false},             // CGNAT
		{"100.127.255.254", false},        // CGNAT, top
		{"64:ff9b::a9fe:a9fe", false},     // NAT64 of 169.254.169.254
		{"64:ff9b:1::a00:1", false},       // local-use NAT64
		{"2002:a9fe:a9fe::1", false},      // 6to4 of 169.254.169.254
		{"2001:0:4136:e378::1", false},    // Teredo
		{"240.0.0.1", false},              // reserved
		{"255.255.255.255", false},        // broadcast
		{"0.1.2.3", false},                // "this network"
		{"198.18.0.1", false},             // benchmarking
		{"::ffff:169.254.169.254", false}, // IPv4-mapped metadata
		{"::ffff:10.0.0.1", false},        // IPv4-mapped private
		{"::a9fe:a9fe", false},            // IPv4-compatible metadata
		{"10.0.0.1", false},
		{"fd00::1", false},
	} {
		if got := a.publicIP(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("publicIP(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

// TestDependencyClientRefusesRedirects: a dependency that answers with a
// redirect does not get its credentials carried to the target, and the
// target is never called: the call fails as an egress denial.
func TestDependencyClientRefusesRedirects(t *testing.T) {
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) }))
	defer target.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusFound)
	}))
	defer origin.Close()

	e := newEnv(t, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, origin.URL+"/contacts", nil)
	req.Header.Set("Authorization", "Bearer secret-token")
	resp, err := e.crm().HTTPClient().Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrEgressDenied) {
		t.Fatalf("GET with a redirect = %v, want ErrEgressDenied", err)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect target was called %d times, want 0", n)
	}
	if got := Reason("crm", err); got != "crm: egress denied" {
		t.Errorf("Reason = %q, want crm: egress denied", got)
	}
}
