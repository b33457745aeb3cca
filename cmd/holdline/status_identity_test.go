package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/holdline/holdline/gateway/adminapi"
)

func TestPrintStatusIdentity(t *testing.T) {
	raw := `{"version":"v","mode":"production","started_at":"2026-03-01T12:00:00Z","degraded":true,"dependencies":[],
"identity":{"degraded":true,"reason":"the last fetch failed: JWTs verify against the last good key set until keys_usable_until",
"key_source":"persisted","key_ids":["key-1","key-2"],"keys_age":"2h0m0s","keys_usable_until":"2026-03-02T10:00:00Z","last_error":"identity: http 503"}}`
	var st adminapi.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printStatus(&out, &st)
	want := "identity: keys persisted 2h0m0s old [key-1 key-2], usable until 2026-03-02T10:00:00Z; DEGRADED: the last fetch failed"
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "(identity: http 503)") {
		t.Errorf("printStatus output lacks the identity line %q:\n%s", want, out.String())
	}
}
