package sidecar

import (
	"testing"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/testenv"
)

// TestOutboxOnRedis runs a dev sidecar with its outbox on a real
// redis-server (fleet mode) and checks a CRM write goes through it.
func TestOutboxOnRedis(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	ts := startDev(t, func(c *config.Config) {
		c.Outbox.Backend = "redis"
		c.Outbox.Redis = config.Redis{Addr: r.Addr}
	})
	var res struct {
		Status   string `json:"status"`
		RecordID string `json:"record_id"`
	}
	if code := ts.post(t, ts.data+"/v1/interactions/fleet-1/record", `{"subject":"fleet"}`, &res); code != 201 || res.RecordID == "" {
		t.Fatalf("record write in fleet mode = %d %+v, want 201 with a record id", code, res)
	}
	var st struct {
		Outbox struct {
			Backend string `json:"backend"`
			Done    int    `json:"done"`
		} `json:"outbox"`
	}
	ts.get(t, ts.admin+"/v1/status", &st)
	if st.Outbox.Backend != "redis" || st.Outbox.Done != 1 {
		t.Fatalf("status outbox = %+v, want backend redis with one done job", st.Outbox)
	}
}

// TestOutboxStartsWithRedisDown: fleet mode must not stop a sidecar from
// starting while Redis is away (static stability); writes queue locally
// and the sidecar says it is degraded.
//
// Not parallel: the stopped redis-server's port must stay free, so no
// other test of this package may start a redis-server meanwhile.
func TestOutboxStartsWithRedisDown(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	r.Stop()
	ts := startDev(t, func(c *config.Config) {
		c.Outbox.Backend = "redis"
		c.Outbox.Redis = config.Redis{Addr: r.Addr}
	})
	var res struct {
		RecordID string `json:"record_id"`
	}
	if code := ts.post(t, ts.data+"/v1/interactions/local-1/record", `{"subject":"redis down"}`, &res); code != 201 || res.RecordID == "" {
		t.Fatalf("record write with Redis down = %d %+v, want 201 through the local store", code, res)
	}
	var st struct {
		Degraded bool `json:"degraded"`
		Outbox   struct {
			Backend string `json:"backend"`
		} `json:"outbox"`
	}
	ts.get(t, ts.admin+"/v1/status", &st)
	if !st.Degraded || st.Outbox.Backend == "redis" {
		t.Fatalf("status = %+v, want degraded and the local backend named", st)
	}
}
