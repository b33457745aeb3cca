package screenpop

import (
	"testing"
	"time"

	"github.com/holdline/holdline/cache"
	"github.com/holdline/holdline/internal/config"
)

func TestEnqueueRefreshDedupes(t *testing.T) {
	cc := config.Default().Cache
	c, err := cache.New(cc, nil, nil, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := New(c, nil, nil, config.Default().ScreenPop, cc, Options{RefreshQueue: 2})
	for range 100 {
		f.enqueueRefresh("+14155550100")
	}
	if got := len(f.queue); got != 1 {
		t.Errorf("queued refreshes after 100 enqueues of one number = %d, want 1", got)
	}
	f.enqueueRefresh("+14155550101")
	f.enqueueRefresh("+14155550102") // the queue holds 2: dropped
	if got := len(f.queue); got != 2 {
		t.Errorf("queued refreshes = %d, want 2 (bounded)", got)
	}
	if _, ok := f.pending["+14155550102"]; ok {
		t.Error("a dropped refresh stays pending, so it would never be asked again")
	}
}

func TestMargin(t *testing.T) {
	for _, tc := range []struct{ budget, want int64 }{
		{300e6, 10e6}, {50e6, 5e6}, {1e9, 10e6},
	} {
		if got := margin(time.Duration(tc.budget)); int64(got) != tc.want {
			t.Errorf("margin(%v) = %v, want %v", time.Duration(tc.budget), got, time.Duration(tc.want))
		}
	}
}
