package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A drill refuses to start on a dirty baseline and names what is dirty;
// --force runs it anyway and marks the report.
func TestDrillRefusesDirtyBaseline(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	if out, code := d.cli(t, "breaker", "open", "crm", "--reason", "left over from an incident"); code != 0 {
		t.Fatalf("breaker open: exit %d: %s", code, out)
	}
	scenario := writeScenario(t, `
name: baseline
duration: 2s
rate: 5
mix: {screen_pop: 1}
recovery: 1s
expectations:
  - success_rate: {operation: screen_pop, min: 0.5}
`)
	var stdout, stderr syncBuffer
	getenv := func(k string) string {
		if k == "HOLDLINE_ADMIN_TOKEN" {
			return d.token
		}
		return ""
	}
	report := filepath.Join(t.TempDir(), "refused.json")
	err := run(t.Context(), []string{"holdline", "drill", "run", scenario, "--admin", d.admin, "--target", d.data, "--report", report}, getenv, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 1 || !strings.Contains(stderr.String(), "baseline is not clean") || !strings.Contains(stderr.String(), "crm: breaker forced open") {
		t.Fatalf("drill on a dirty baseline: exit %d, stderr %q; want exit 1 naming the forced crm breaker", code, stderr.String())
	}
	if _, err := os.Stat(report); err == nil {
		t.Errorf("a refused drill wrote a report")
	}
	code, out, rep := drillRun(t.Context(), t, d, scenario, "--force")
	if rep == nil {
		t.Fatalf("forced drill wrote no report (exit %d)", code)
	}
	dirty, _ := rep["dirty_baseline"].([]any)
	if rep["forced"] != true || len(dirty) == 0 || !strings.Contains(dirty[0].(string), "crm: breaker") {
		t.Errorf("forced report: forced %v, dirty_baseline %v; want true and the crm breaker named", rep["forced"], dirty)
	}
	if !strings.Contains(out, "FORCED on a dirty baseline") || !strings.Contains(out, "dirty before the drill: crm: breaker") {
		t.Errorf("the table does not mark the forced drill:\n%s", out)
	}
}
