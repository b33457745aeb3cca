package outbox_test

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds, and fails the test naming what it
// waited for once limit has passed. It is for tests on real processes and
// servers (redis-server, a killed child) that cannot run in a synctest
// bubble; limit is a hang guard, never a claim about speed. Tests in a
// bubble use harness.waitState instead.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		<-tick.C
	}
}
