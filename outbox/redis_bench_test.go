package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// BenchmarkRedisFleetEnqueue is the fleet scenario's store-alone run as a
// benchmark: three RedisStores (three sidecars, a client each) on one
// redis-server with appendfsync always, 96 producers among them, each job
// on a new interaction with an idempotency key. Besides jobs/s it reports
// Redis's own time per job (INFO commandstats: the usec of every EVALSHA
// and EVAL over the run, divided by the jobs), the figure that bounds a
// fleet, since Redis runs scripts on one thread. Compare two builds by
// running it alternately, not by its absolute figures:
//
//	go test -run '^$' -bench RedisFleetEnqueue -benchtime 20000x ./outbox/
func BenchmarkRedisFleetEnqueue(b *testing.B) {
	const stores, producers = 3, 96
	srv := testenv.StartRedis(b, testenv.RedisOptions{Persist: true})
	admin := redisClient(b, srv.Addr)
	prefix := newPrefix(b)
	var ss []*outbox.RedisStore
	for range stores {
		ss = append(ss, openRedis(b, redisClient(b, srv.Addr), outbox.RedisOptions{Prefix: prefix}))
	}
	ctx := context.Background()
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range producers {
		s := ss[g%stores]
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				_, _, err := s.Enqueue(ctx, outbox.Job{Kind: "crm.create_record", Dependency: "crm",
					InteractionID: fmt.Sprint("store-", i), IdempotencyKey: fmt.Sprint("record:store-", i),
					Payload: json.RawMessage(`{"subject":"Call"}`)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
	b.StopTimer()
	usec, calls := scriptStats(b, admin)
	b.ReportMetric(usec/float64(b.N), "redis-µs/job")
	if calls > 0 {
		b.ReportMetric(usec/float64(calls), "redis-µs/call")
		b.ReportMetric(float64(b.N)/float64(calls), "jobs/call")
	}
}

// scriptStats sums usec and calls of EVALSHA and EVAL from INFO
// commandstats.
func scriptStats(b *testing.B, rdb *redis.Client) (usec float64, calls int64) {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		name, rest, _ := strings.Cut(strings.TrimSpace(l), ":")
		if name != "cmdstat_evalsha" && name != "cmdstat_eval" {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "usec":
				f, _ := strconv.ParseFloat(v, 64)
				usec += f
			case "calls":
				n, _ := strconv.ParseInt(v, 10, 64)
				calls += n
			}
		}
	}
	return usec, calls
}
