package sidecar

import (
	"testing"
	"time"

	"github.com/holdline/holdline/adapters/dialogflow"
	"github.com/holdline/holdline/internal/audit"
)

// TestDialogflowAutoSwitchIsAudited: an automatic regional failover is in
// the audit log as holdline's own decision, beside the operators' ones.
func TestDialogflowAutoSwitchIsAudited(t *testing.T) {
	log, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	s := &Sidecar{audit: log}
	s.auditAutoSwitch(dialogflow.Switch{Alias: "support", From: "primary", To: "secondary", At: time.Now(),
		Actor: dialogflow.AutoActor, Reason: "the primary environment's breaker is open (auto_failover)", Auto: true})

	entries, err := log.Read(time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("audit entries = %+v, want 1", entries)
	}
	e := entries[0]
	if e.Actor != dialogflow.AutoActor || e.Action != "dialogflow.region" || e.Target != "support" ||
		e.Details["to"] != "secondary" || e.Details["auto"] != true {
		t.Errorf("audit entry = %+v, want dialogflow.region on support to secondary by %s", e, dialogflow.AutoActor)
	}
}
