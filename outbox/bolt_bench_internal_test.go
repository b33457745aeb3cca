package outbox

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
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
