package dialogflow

import (
	"fmt"
	"testing"
	"time"
)

func TestDialogflowAffinityIsBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	a := newAffinity(3, 30*time.Minute)
	for i := range 5 {
		a.set(fmt.Sprint("s", i), "env", t0.Add(time.Duration(i)*time.Second))
	}
	if n := a.len(); n != 3 {
		t.Errorf("len() after 5 sessions with max 3 = %d, want 3", n)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := a.get(fmt.Sprint("s", i), t0.Add(time.Minute)); ok != want {
			t.Errorf("get(s%d) found = %v, want %v (least recently used go first)", i, ok, want)
		}
	}
}

func TestDialogflowAffinityExpiresIdleSessions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	a := newAffinity(100, 30*time.Minute)
	a.set("busy", "primary", t0)
	a.set("idle", "secondary", t0)
	a.set("busy", "primary", t0.Add(20*time.Minute)) // a turn refreshes it

	if env, ok := a.get("busy", t0.Add(45*time.Minute)); !ok || env != "primary" {
		t.Errorf("get(busy) after 25 idle minutes = %q, %v; want primary, true", env, ok)
	}
	if _, ok := a.get("idle", t0.Add(30*time.Minute)); ok {
		t.Errorf("get(idle) after 30 idle minutes found it, want it expired")
	}
	a.sweep(t0.Add(2 * time.Hour))
	if n := a.len(); n != 0 {
		t.Errorf("len() after sweeping 2 hours later = %d, want 0", n)
	}
	a.set("ended", "primary", t0)
	a.forget("ended")
	if _, ok := a.get("ended", t0); ok {
		t.Errorf("get(ended) after forget found it")
	}
}
