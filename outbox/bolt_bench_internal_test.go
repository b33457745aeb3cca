package outbox

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkCommitCPU measures the CPU of one group commit of 32 enqueues
// (the batch 64 producers achieve), without the disk: the file is opened
// with bbolt's NoSync, so what remains is building the transaction, the
// jobs' encoding, the indexes and writing the pages. ns/op is per job.
//
//	go test -run '^$' -bench CommitCPU -benchmem ./outbox/
func BenchmarkCommitCPU(b *testing.B) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.db.NoSync = true
	payload := json.RawMessage(`{"record_id":"500Xx000001AbCdE","body":"caller asked for a callback tomorrow"}`)
	const perCommit = 32
	outs := make([]Job, perCommit)
	created := make([]bool, perCommit)
	batch := make([]*write, perCommit)
	i := 0
	writes0 := writesOf(s)
	cpu0 := cpuTime()
	for b.Loop() {
		if i%perCommit == 0 && i > 0 {
			s.commit(batch)
			for _, w := range batch {
				if err := <-w.done; err != nil {
					b.Fatal(err)
				}
			}
		}
		k := i % perCommit
		j := Job{
			Kind:           "crm.add_comment",
			Dependency:     "crm",
			InteractionID:  fmt.Sprint("call-", i%500),
			IdempotencyKey: fmt.Sprint("comment-", i),
			Payload:        payload,
		}
		batch[k] = &write{fn: s.enqueueWrite(j, &outs[k], &created[k]), done: make(chan error, 1)}
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(i), "cpu-µs/job")
	b.ReportMetric(float64(writesOf(s)-writes0)/float64(i), "pages/job")
}

// cpuTime is the process's user and system CPU so far: unlike ns/op it
// does not count time spent waiting for a core on a busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writesOf is how many pages the store's transactions have written.
func writesOf(s *BoltStore) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}

// BenchmarkDoneFootprint measures what a done job costs the bolt file:
// each iteration enqueues a job with a record-sized payload, claims it and
// completes it (the soak's life of a CRM write), on a file without fsync.
// bytes/job is the pages in use (file minus free pages) per job, the part
// of the file the retention keeps and the memory map covers.
//
//	go test -run '^$' -bench DoneFootprint -benchtime 20000x ./outbox/
func BenchmarkDoneFootprint(b *testing.B) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.db.NoSync = true
	ctx := b.Context()
	payload := json.RawMessage(`{"request_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","record":{"interaction_id":"call-0000000","contact_id":"003Xx000004TmiQ","phone":"+15555550100","subject":"Inbound call","description":"Caller asked about the invoice of last month","channel":"voice","queue":"billing"}}`)
	origin := Origin{RequestID: "0b5e8f3c-1f7a-4c1e-9d6e-3a1f2b4c5d6e", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	n := 0
	for b.Loop() {
		j, _, err := s.Enqueue(ctx, Job{Kind: "crm.create_record", Dependency: "crm", InteractionID: fmt.Sprintf("call-%07d", n),
			IdempotencyKey: fmt.Sprintf("record:call-%07d:%x", n, n*7919), Payload: payload, Origin: origin})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Claim(ctx, j.NextAttemptAt, 1, nil); err != nil {
			b.Fatal(err)
		}
		if err := s.Complete(ctx, j.ID, json.RawMessage(`{"record_id":"500Xx000001AbCdEAA"}`)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	var inUse int64
	err = s.db.View(func(tx *bolt.Tx) error {
		st := s.db.Stats()
		inUse = tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(s.db.Info().PageSize)
		for _, name := range [][]byte{bucketJobs, bucketIdempotency, bucketInteractions, bucketStates, bucketReady} {
			bs := tx.Bucket(name).Stats()
			pages := bs.BranchPageN + bs.LeafPageN + bs.LeafOverflowN + bs.BranchOverflowN
			b.ReportMetric(float64(pages*s.db.Info().PageSize)/float64(n), string(name)+"-B/job")
			b.ReportMetric(float64(bs.LeafInuse)/float64(bs.LeafPageN*s.db.Info().PageSize), string(name)+"-fill")
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(inUse)/float64(n), "bytes/job")
}
