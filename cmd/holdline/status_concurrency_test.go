package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/holdline/holdline/gateway/adminapi"
)

// TestPrintStatusConcurrency: an adaptive limit is printed under the
// table with what is in flight and queued; a fixed bulkhead only when
// full.
func TestPrintStatusConcurrency(t *testing.T) {
	st := adminapi.Status{Mode: adminapi.Production, Dependencies: []adminapi.DependencyStatus{
		{Name: "crm", Concurrency: &adminapi.Concurrency{Mode: adminapi.ConcurrencyAdaptive, Limit: 9, Min: 2, Max: 64, Inflight: 9, Queued: 3}},
		{Name: "identity", Concurrency: &adminapi.Concurrency{Mode: adminapi.ConcurrencyFixed, Limit: 32, Min: 32, Max: 32, Inflight: 5}},
		{Name: "blob", Concurrency: &adminapi.Concurrency{Mode: adminapi.ConcurrencyFixed, Limit: 4, Min: 4, Max: 4, Inflight: 4}},
		{Name: "redis"},
	}}
	var out bytes.Buffer
	printStatus(&out, &st)
	want := "\nconcurrency (bulkhead):\n" +
		"  crm: adaptive limit 9 (min 2, max 64), 9 in flight, 3 queued FULL: calls over the limit are refused and degrade\n" +
		"  blob: fixed limit 4, 4 in flight FULL: calls over the limit are refused and degrade\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("printStatus output lacks %q:\n%s", want, out.String())
	}
	if strings.Contains(out.String(), "identity: fixed") {
		t.Errorf("printStatus shows a fixed bulkhead that is not full:\n%s", out.String())
	}

	st.Dependencies = st.Dependencies[1:2]
	out.Reset()
	printStatus(&out, &st)
	if strings.Contains(out.String(), "concurrency") {
		t.Errorf("printStatus without an adaptive or full bulkhead mentions concurrency:\n%s", out.String())
	}
}
