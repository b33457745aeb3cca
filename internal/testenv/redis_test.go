package testenv

import "testing"

func TestStartRedisAnswersPing(t *testing.T) {
	r := StartRedis(t, RedisOptions{Persist: true})
	if err := ping(r.Addr); err != nil {
		t.Fatalf("ping %s: %v", r.Addr, err)
	}
	r.Stop()
	if err := ping(r.Addr); err == nil {
		t.Fatalf("ping %s after Stop succeeded, want an error", r.Addr)
	}
}
