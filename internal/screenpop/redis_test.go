package screenpop_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/screenpop"
	"github.com/holdline/holdline/internal/sim"
	"github.com/holdline/holdline/internal/testenv"
)

// TestRedisTroubleNeverReachesThePop: with the shared Redis tier stopped
// or hanging, pops answer from L1 or the CRM within the budget.
func TestRedisTroubleNeverReachesThePop(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(*testing.T) string
	}{
		{"stopped", func(t *testing.T) string {
			r := testenv.StartRedis(t, testenv.RedisOptions{})
			r.Stop()
			return r.Addr
		}},
		{"hanging", blackhole},
		{"slow (500ms through a fault proxy)", func(t *testing.T) string {
			r := testenv.StartRedis(t, testenv.RedisOptions{})
			p := testenv.FaultProxy(t, r.Addr)
			p.Latency(500 * time.Millisecond)
			return p.Addr()
		}},
		{"resetting (fault proxy)", func(t *testing.T) string {
			r := testenv.StartRedis(t, testenv.RedisOptions{})
			p := testenv.FaultProxy(t, r.Addr)
			p.ResetPeer()
			return p.Addr()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{redisAddr: tc.addr(t)})
			ada, unknown := number(t, adaE164), number(t, unknownE164)
			for i := range 10 {
				want := screenpop.SourceCache
				if i == 0 {
					want = screenpop.SourceCRM
				}
				if r := e.pop(t, ada); r.Source != want || r.Degraded {
					t.Errorf("Pop %d with Redis %s = %+v, want source %s, not degraded", i, tc.name, r, want)
				}
				if r := e.pop(t, unknown); r.Source != want || r.Degraded {
					t.Errorf("Pop %d of an unknown number with Redis %s = %+v, want source %s", i, tc.name, r, want)
				}
			}
		})
	}
}

// TestRedisServesAFleetWhoseCRMIsDown: a second sidecar with a cold L1 and
// a dead CRM answers from what the first one put in Redis.
func TestRedisServesAFleetWhoseCRMIsDown(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	a := newEnv(t, envOptions{redisAddr: r.Addr})
	b := newEnv(t, envOptions{redisAddr: r.Addr})
	b.setMode(t, sim.CRMMode{Kind: sim.Mode503})
	ada := number(t, adaE164)

	if got := a.pop(t, ada); got.Source != screenpop.SourceCRM {
		t.Fatalf("A: Pop = %+v, want crm", got)
	}
	eventually(t, "A's entry to reach Redis", func() bool {
		return redisKeys(t, r.Addr) == 1
	})
	if got := b.pop(t, ada); got.Source != screenpop.SourceCache || got.Contact == nil || got.Contact.Name != "Ada Lovelace" {
		t.Errorf("B: Pop = %+v, want Ada from the shared cache", got)
	}
	if got := b.lookups(); got != 0 {
		t.Errorf("B's CRM lookups = %d, want 0", got)
	}
}

func redisKeys(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	c.Write([]byte("DBSIZE\r\n"))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	var k int
	for _, ch := range buf[1:n] {
		if ch < '0' || ch > '9' {
			break
		}
		k = k*10 + int(ch-'0')
	}
	return k
}

// blackhole accepts connections and never answers: a Redis that hangs.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}
