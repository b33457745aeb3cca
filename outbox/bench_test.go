package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline/outbox"
)

// BenchmarkEnqueue measures durable enqueues (each fsynced before it
// returns) from 1, 16 and 64 concurrent producers. Compare jobs/s with
// BenchmarkFsync's fsync/s on the same disk; jobs/commit is the group
// commit achieved (writes per bbolt transaction), so jobs/s ÷ jobs/commit
// is commits/s, each commit costing bbolt two fdatasyncs (data pages,
// then the meta page).
//
//	go test -run '^$' -bench 'Enqueue|Fsync' -benchtime 2s ./outbox/
func BenchmarkEnqueue(b *testing.B) {
	payload := json.RawMessage(`{"record_id":"500Xx000001AbCdE","body":"caller asked for a callback tomorrow"}`)
	for _, producers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			s, err := outbox.OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), outbox.BoltOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range producers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						_, _, err := s.Enqueue(ctx, outbox.Job{
							Kind:           "crm.add_comment",
							Dependency:     "crm",
							InteractionID:  fmt.Sprint("call-", i%500),
							IdempotencyKey: fmt.Sprint("comment-", i),
							Payload:        payload,
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			commits, calls := s.BatchStats()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
			b.ReportMetric(float64(calls)/float64(max(commits, 1)), "jobs/commit")
		})
	}
}

// BenchmarkFsync is the disk's baseline: a 100-byte write and an fsync per
// iteration, in the same temporary directory as BenchmarkEnqueue.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	start := time.Now()
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsync/s")
}
