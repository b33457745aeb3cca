package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/internal/phone"
	"github.com/holdline/holdline/internal/screenpop"
)

// countingPop is fixedPop that counts the pops that would reach the CRM.
type countingPop struct {
	fixedPop
	pops atomic.Int64
}

func (c *countingPop) Pop(ctx context.Context, n phone.Number) screenpop.Result {
	c.pops.Add(1)
	return c.fixedPop.Pop(ctx, n)
}

// TestScreenPopCallerIDs: what real calls carry as a caller id must never
// block routing. Withheld and unparseable ids answer a minimal pop at
// once, degraded with the reason, without asking the flow for a lookup;
// tel: and sip: forms are parsed to the number.
func TestScreenPopCallerIDs(t *testing.T) {
	flow := &countingPop{fixedPop: fixedPop{screenpop.Result{Source: "cache"}}}
	p := newPlanes(t, func(o *Options) {
		o.MaxBodyBytes = 4096
		o.Services = Services{DefaultRegion: "US", ScreenPop: flow}
	})
	tests := []struct {
		phone   string
		e164    string
		source  string
		reasons []string
	}{
		{"+14155550100", "+14155550100", "cache", []string{}},
		{"tel:+14155550100", "+14155550100", "cache", []string{}},
		{"sip:+14155550100@pbx", "+14155550100", "cache", []string{}},
		{"", "", "minimal", []string{"no caller number"}},
		{"anonymous", "", "minimal", []string{"no caller number"}},
		{"sip:anonymous@anonymous.invalid", "", "minimal", []string{"no caller number"}},
		{"0", "", "minimal", []string{"unparseable caller number"}},
		{"not a number", "", "minimal", []string{"unparseable caller number"}},
	}
	for _, tt := range tests {
		t.Run(tt.phone, func(t *testing.T) {
			before := flow.pops.Load()
			body, _ := json.Marshal(map[string]string{"phone": tt.phone})
			resp, b := do(t, "POST", p.data.URL+"/v1/screen-pop", "application/json", string(body), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("screen pop %q = %d %s, want 200", tt.phone, resp.StatusCode, b)
			}
			var got struct {
				E164     string   `json:"e164"`
				Source   string   `json:"source"`
				Degraded bool     `json:"degraded"`
				Reasons  []string `json:"reasons"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.E164 != tt.e164 || got.Source != tt.source || !cmp.Equal(got.Reasons, tt.reasons) || got.Degraded != (tt.source == "minimal") {
				t.Errorf("screen pop %q = %s, want e164 %q source %s reasons %v", tt.phone, strings.TrimSpace(string(b)), tt.e164, tt.source, tt.reasons)
			}
			wantPops := int64(0)
			if tt.e164 != "" {
				wantPops = 1
			}
			if n := flow.pops.Load() - before; n != wantPops {
				t.Errorf("screen pop %q asked the flow for %d lookups, want %d", tt.phone, n, wantPops)
			}
		})
	}
}
