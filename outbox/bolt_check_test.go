package outbox

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies that the store's indexes and counts agree with its jobs
// and returns every disagreement. It is test code: the package's tests
// (and the storetest suite, through storetest.Checker) call it after
// every test.
func (s *BoltStore) Check() error {
	var errs []error
	err := s.db.View(func(tx *bolt.Tx) error {
		errs = buckets(tx).check()
		return nil
	})
	return errors.Join(append(errs, mapErr(err))...)
}

// check verifies that the indexes agree with the jobs bucket.
func (b btx) check() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var counts [numStates]uint64
	jobs := map[string]*Job{}
	heads := map[string]string{}  // ikey -> head id
	inflights := map[string]int{} // ikey -> inflight jobs
	err := b.jobs.ForEach(func(k, v []byte) error {
		j, err := decodeJob(v)
		if err != nil {
			bad("job %s: %v", k, err)
			return nil
		}
		if j.ID != string(k) {
			bad("job under key %s has id %s", k, j.ID)
		}
		if !j.State.Valid() {
			bad("job %s: state %q", j.ID, j.State)
			return nil
		}
		jobs[j.ID] = j
		counts[stateIndex(j.State)]++
		if v := b.inter.Get(interactionKey(j)); len(v) != 1 || v[0] != stateByte(j.State) {
			bad("job %s: interactions entry %q, want state %s", j.ID, v, j.State)
		}
		if b.states.Get(stateKey(j.State, j.ID)) == nil {
			bad("job %s: missing from states index %s", j.ID, j.State)
		}
		if j.IdempotencyKey != "" && string(b.idem.Get([]byte(j.IdempotencyKey))) != j.ID {
			bad("job %s: idempotency key %q points to %q", j.ID, j.IdempotencyKey, b.idem.Get([]byte(j.IdempotencyKey)))
		}
		if j.State != Done {
			if _, ok := heads[ikey(j)]; !ok {
				heads[ikey(j)] = j.ID // jobs are visited in id order
			}
		}
		if j.State == Inflight {
			inflights[ikey(j)]++
		}
		return nil
	})
	if err != nil {
		return append(errs, err)
	}
	if got := b.counts(); got != counts {
		bad("counts record %v, want %v (pending, inflight, done, dead, held)", got, counts)
	}
	if n := b.inter.Stats().KeyN; n != len(jobs) {
		bad("interactions index has %d entries for %d jobs", n, len(jobs))
	}
	if n := b.states.Stats().KeyN; n != len(jobs) {
		bad("states index has %d entries for %d jobs", n, len(jobs))
	}
	_ = b.idem.ForEach(func(k, v []byte) error {
		if j := jobs[string(v)]; j == nil || j.IdempotencyKey != string(k) {
			bad("idempotency key %q points to %q, which does not hold it", k, v)
		}
		return nil
	})
	for ik, n := range inflights {
		if n > 1 {
			bad("interaction %q has %d inflight jobs", ik, n)
		}
	}
	wantReady := map[string]bool{}
	for ik, id := range heads {
		if j := jobs[id]; claimable(stateByte(j.State)) && inflights[ik] == 0 {
			wantReady[string(readyKey(j))] = true
		}
	}
	_ = b.ready.ForEach(func(k, _ []byte) error {
		if !wantReady[string(k)] {
			bad("ready holds %q, which is not a claimable head", k)
		}
		delete(wantReady, string(k))
		return nil
	})
	for k := range wantReady {
		bad("ready lacks claimable head %q", k)
	}
	return errs
}
