package outbox

import (
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/holdline/holdline/internal/config"
)

// retryDelay returns how long to wait after a job's failures-th counted
// failure, or stop == true when the retry budget (MaxElapsed, measured
// from the first failure) is spent.
//
// A job's backoff outlives the process, so it cannot keep a live
// backoff.ExponentialBackOff. retryDelay rebuilds one that started at
// firstFailed and advances it through the earlier failures: the interval
// grows exponentially (x1.5) up to Max, each delay is jittered by ±50%,
// and backoff.Stop comes back once the next attempt would fall after
// firstFailed + MaxElapsed. MaxElapsed 0 retries forever.
func retryDelay(cfg config.Backoff, failures int, firstFailed, now time.Time) (d time.Duration, stop bool) {
	clock := &fixedClock{t: firstFailed}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(cfg.Initial.D()),
		backoff.WithMaxInterval(cfg.Max.D()),
		backoff.WithMaxElapsedTime(cfg.MaxElapsed.D()),
		backoff.WithClockProvider(clock),
	)
	// The interval reaches Max long before 64 steps (1.5^64 > 10^11).
	for range min(failures-1, 64) {
		b.NextBackOff()
	}
	clock.t = now
	d = b.NextBackOff()
	return d, d == backoff.Stop
}

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }
