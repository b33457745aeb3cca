package interactions_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/outbox"
)

// TestRefusedCredentialsNeverBuryWrites: while the CRM answers 401 (an
// expired token, a wrong secret), an accepted write waits without
// spending attempts and the dependency shows auth_failed; once the
// credentials are accepted again the write lands, and nothing went dead.
func TestRefusedCredentialsNeverBuryWrites(t *testing.T) {
	e := start(t, 50*time.Millisecond)
	e.reject.Store(http.StatusUnauthorized)
	out, err := e.svc.CreateRecord(t.Context(), "call-401", "", rec)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != interactions.Queued {
		t.Fatalf("CreateRecord with credentials refused = %+v, want queued", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !e.dep.AuthFailed() {
		if time.Now().After(deadline) {
			t.Fatal("the dependency never showed auth_failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.dep.Status().Auth; got != "auth_failed" {
		t.Errorf("Status().Auth = %q, want auth_failed", got)
	}
	j, err := e.store.Get(t.Context(), out.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State == outbox.Dead || j.State == outbox.Done || j.Attempts != 0 {
		t.Errorf("job while credentials are refused = %s after %d attempts, want waiting with none spent", j.State, j.Attempts)
	}

	e.reject.Store(0) // the secret is fixed
	e.waitJob(t, out.JobID, outbox.Done)
	if e.dep.AuthFailed() || e.dep.Status().Auth != "ok" {
		t.Errorf("after a successful call: AuthFailed %v, Status().Auth %q; want false, ok", e.dep.AuthFailed(), e.dep.Status().Auth)
	}
	if st, err := e.store.Stats(t.Context()); err != nil || st.Dead != 0 {
		t.Errorf("Stats = %+v, %v; want 0 dead", st, err)
	}
}
