package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/testenv"
	"github.com/holdline/holdline/outbox"
)

// BenchmarkRedisEnqueue is BenchmarkEnqueue on a RedisStore against a
// local redis-server with appendonly yes and appendfsync always (each job
// is fsynced by Redis before Enqueue returns; concurrent producers share
// an fsync per event-loop turn). Run both together to get the ratio:
//
//	go test -run '^$' -bench 'Enqueue' -benchtime 2s ./outbox/
func BenchmarkRedisEnqueue(b *testing.B) {
	srv := testenv.StartRedis(b, testenv.RedisOptions{Persist: true})
	rdb := redisClient(b, srv.Addr)
	payload := json.RawMessage(`{"record_id":"500Xx000001AbCdE","body":"caller asked for a callback tomorrow"}`)
	for _, producers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			s := openRedis(b, rdb, outbox.RedisOptions{Prefix: newPrefix(b)})
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
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
		})
	}
}
