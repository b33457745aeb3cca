package outbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names; the layout is described in the package documentation.
var (
	bucketJobs         = []byte("jobs")
	bucketIdempotency  = []byte("idempotency")
	bucketInteractions = []byte("interactions")
	bucketStates       = []byte("states")
	bucketReady        = []byte("ready")
	bucketMeta         = []byte("meta")

	keyCounts  = []byte("counts")
	keyVersion = []byte("version")
)

// schemaVersion is the file's layout version, in meta. 2 added the binary
// job record (bolt_codec.go); a schema 1 file (JSON records) is read as it
// is and marked 2 at open, so that an older build refuses it instead of
// failing on a binary record.
const schemaVersion = 2

// minSchemaVersion is the oldest layout this build opens.
const minSchemaVersion = 1

// stateByte is a state's one-byte code in the interactions and states
// buckets.
func stateByte(s State) byte {
	switch s {
	case Pending:
		return 'p'
	case Inflight:
		return 'i'
	case Done:
		return 'c'
	case Dead:
		return 'x'
	case Held:
		return 'h'
	}
	panic("outbox: unknown state " + string(s))
}

// stateIndex is the slot of a state in the counts record.
func stateIndex(s State) int {
	switch s {
	case Pending:
		return 0
	case Inflight:
		return 1
	case Done:
		return 2
	case Dead:
		return 3
	case Held:
		return 4
	}
	panic("outbox: unknown state " + string(s))
}

var byteState = map[byte]State{'p': Pending, 'i': Inflight, 'c': Done, 'x': Dead, 'h': Held}

// numStates is the number of slots in the counts record. A record written
// before Held existed has four slots; the fifth reads as zero.
const numStates = 5

// claimable reports whether a job in state st (its one-byte code) may be
// claimed when it is its interaction's head: pending and held jobs.
func claimable(st byte) bool { return st == stateByte(Pending) || st == stateByte(Held) }

// ikey is the ordering key of a job: its interaction, or the job alone.
func ikey(j *Job) string {
	if j.InteractionID != "" {
		return "i" + j.InteractionID
	}
	return "j" + j.ID
}

func interactionPrefix(ik string) []byte { return append([]byte(ik), 0) }

func interactionKey(j *Job) []byte { return append(interactionPrefix(ikey(j)), j.ID...) }

func stateKey(s State, id string) []byte { return append([]byte{stateByte(s)}, id...) }

// readyKey orders claimable heads by dependency, then due time, then id.
func readyKey(j *Job) []byte {
	k := make([]byte, 0, len(j.Dependency)+1+8+len(j.ID))
	k = append(k, j.Dependency...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, timeKey(j.NextAttemptAt))
	return append(k, j.ID...)
}

// timeKey maps t to a uint64 that sorts like t, negative times included.
func timeKey(t time.Time) uint64 { return uint64(t.UnixNano()) ^ 1<<63 }

// btx is a transaction with the buckets opened.
type btx struct {
	tx                                         *bolt.Tx
	jobs, idem, inter, states, ready, metadata *bolt.Bucket
	// delta is the change to the counts record not yet written: a write
	// transaction adds to it and writes the record once, at its end
	// (flush), instead of once per job.
	delta *[numStates]int64
}

// jobsFill and statesFill are the FillPercent of the buckets whose keys
// mostly rise (jobs by id; states by state, then id): bbolt splits a page
// that outgrew its size so that the first part holds this share of a page.
// Its default, 0.5, suits keys that land anywhere; for rising keys it
// leaves every page half empty, since nothing is inserted into the first
// half again. A job's record grows once (its result, on completion), so
// jobs keep a tenth free for that; states entries never grow.
const (
	jobsFill   = 0.9
	statesFill = 1.0
)

func buckets(tx *bolt.Tx) btx {
	b := btx{
		tx:       tx,
		delta:    new([numStates]int64),
		jobs:     tx.Bucket(bucketJobs),
		idem:     tx.Bucket(bucketIdempotency),
		inter:    tx.Bucket(bucketInteractions),
		states:   tx.Bucket(bucketStates),
		ready:    tx.Bucket(bucketReady),
		metadata: tx.Bucket(bucketMeta),
	}
	b.jobs.FillPercent = jobsFill
	b.states.FillPercent = statesFill
	return b
}

// get loads a job, or returns ErrNotFound.
func (b btx) get(id string) (*Job, error) {
	v := b.jobs.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return decodeJob(v)
}

// counts reads the number of jobs per state.
func (b btx) counts() [numStates]uint64 {
	var c [numStates]uint64
	if v := b.metadata.Get(keyCounts); len(v)%8 == 0 && len(v) <= 8*numStates {
		for i := range len(v) / 8 {
			c[i] = binary.BigEndian.Uint64(v[i*8:])
		}
	}
	return c
}

// addCount changes the number of jobs in state s by delta; flush writes
// it.
func (b btx) addCount(s State, delta int) { b.delta[stateIndex(s)] += int64(delta) }

// flush writes the counts changed by addCount. Every write transaction
// calls it after its last change.
func (b btx) flush() error {
	if *b.delta == ([numStates]int64{}) {
		return nil
	}
	c := b.counts()
	v := make([]byte, 0, 8*numStates)
	for i, n := range c {
		v = binary.BigEndian.AppendUint64(v, n+uint64(b.delta[i]))
	}
	*b.delta = [numStates]int64{}
	return b.metadata.Put(keyCounts, v)
}

// put writes j and keeps the interactions, states and idempotency indexes
// and the counts in step. old is the stored version of j, nil for a new
// job. It takes old out of ready; call refresh afterwards to put the
// interaction's head back.
func (b btx) put(old, j *Job) error {
	v := encodeJob(make([]byte, 0, encodedSize(j)), j)
	if err := b.jobs.Put([]byte(j.ID), v); err != nil {
		return err
	}
	if old != nil {
		if err := b.ready.Delete(readyKey(old)); err != nil {
			return err
		}
		if old.State == j.State {
			return nil
		}
		if err := b.states.Delete(stateKey(old.State, old.ID)); err != nil {
			return err
		}
		b.addCount(old.State, -1)
	} else if j.IdempotencyKey != "" {
		if err := b.idem.Put([]byte(j.IdempotencyKey), []byte(j.ID)); err != nil {
			return err
		}
	}
	if err := b.inter.Put(interactionKey(j), []byte{stateByte(j.State)}); err != nil {
		return err
	}
	if err := b.states.Put(stateKey(j.State, j.ID), nil); err != nil {
		return err
	}
	b.addCount(j.State, 1)
	return nil
}

// del removes j and its index entries.
func (b btx) del(j *Job) error {
	for _, op := range []struct {
		b *bolt.Bucket
		k []byte
	}{
		{b.jobs, []byte(j.ID)},
		{b.inter, interactionKey(j)},
		{b.states, stateKey(j.State, j.ID)},
		{b.ready, readyKey(j)},
	} {
		if err := op.b.Delete(op.k); err != nil {
			return err
		}
	}
	if j.IdempotencyKey != "" && string(b.idem.Get([]byte(j.IdempotencyKey))) == j.ID {
		if err := b.idem.Delete([]byte(j.IdempotencyKey)); err != nil {
			return err
		}
	}
	b.addCount(j.State, -1)
	return nil
}

// refresh makes ready hold exactly the claimable head of interaction ik:
// its first job that is not done, if that job is pending and nothing of
// the interaction is inflight. Only a previous head can be in ready, so
// full is needed only when a job may have been put in front of a pending
// head (Replay).
func (b btx) refresh(ik string, full bool) error {
	prefix := interactionPrefix(ik)
	var head string
	var headState byte
	inflight := false
	c := b.inter.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		st := v[0]
		if st == stateByte(Done) {
			continue
		}
		id := string(k[len(prefix):])
		if head == "" {
			head, headState = id, st
		} else if full && claimable(st) {
			if err := b.unready(id); err != nil {
				return err
			}
		}
		if st == stateByte(Inflight) {
			inflight = true
		}
	}
	if head == "" || !claimable(headState) {
		return nil
	}
	if inflight {
		return b.unready(head)
	}
	j, err := b.get(head)
	if err != nil {
		return err
	}
	return b.ready.Put(readyKey(j), nil)
}

// enqueued is refresh for a job just put: the job becomes its
// interaction's head only if nothing before it is still to do, and the
// head it joins behind keeps its place in ready. This spares reading the
// head back on every enqueue. Ids rise, so a new job is normally the
// interaction's last; one that is not (the clock stepped back across a
// restart) gets a full refresh.
func (b btx) enqueued(j *Job) error {
	ik := ikey(j)
	prefix := interactionPrefix(ik)
	self := false
	c := b.inter.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if v[0] == stateByte(Done) {
			continue
		}
		switch {
		case string(k[len(prefix):]) == j.ID:
			self = true
		case !self:
			return nil // an earlier job heads the interaction
		default:
			return b.refresh(ik, true) // a later job exists
		}
	}
	if !self || !claimable(stateByte(j.State)) {
		return b.refresh(ik, true)
	}
	return b.ready.Put(readyKey(j), nil)
}

func (b btx) unready(id string) error {
	j, err := b.get(id)
	if err != nil {
		return err
	}
	return b.ready.Delete(readyKey(j))
}
