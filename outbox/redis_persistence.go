package outbox

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// CheckPersistence reads Redis's persistence settings and returns a
// warning for each one that puts acknowledged jobs at risk: appendonly
// off, appendfsync other than always (everysec loses up to about a second
// of acknowledged enqueues on a crash), and a maxmemory-policy other than
// noeviction (Redis may evict outbox keys). When CONFIG is disabled (as on
// many managed services) it falls back to INFO persistence and says what
// it could not check. It returns nil when everything is as holdline needs
// it. The sidecar logs the warnings at start-up.
func CheckPersistence(ctx context.Context, rdb redis.UniversalClient) (warnings []string) {
	get := func(name string) (string, bool) {
		m, err := rdb.ConfigGet(ctx, name).Result()
		if err != nil {
			return "", false
		}
		v, ok := m[name]
		return v, ok
	}
	aof, ok := get("appendonly")
	if !ok {
		info, err := rdb.Info(ctx, "persistence").Result()
		if err != nil {
			return []string{fmt.Sprintf("redis: cannot read its persistence settings (CONFIG and INFO failed: %v); make sure it runs with appendonly yes, appendfsync always and maxmemory-policy noeviction", err)}
		}
		switch {
		case strings.Contains(info, "aof_enabled:1"):
			warnings = append(warnings, "redis: CONFIG GET is disabled, so appendfsync and maxmemory-policy cannot be checked; make sure they are always and noeviction")
		default:
			warnings = append(warnings, "redis: appendonly is off (INFO persistence): acknowledged outbox jobs are lost if redis restarts; run it with appendonly yes and appendfsync always")
		}
		return warnings
	}
	if aof != "yes" {
		warnings = append(warnings, "redis: appendonly is "+aof+": acknowledged outbox jobs are lost if redis restarts (back to the last RDB snapshot at best); run it with appendonly yes and appendfsync always")
	} else {
		switch fsync, _ := get("appendfsync"); fsync {
		case "always":
		case "everysec":
			warnings = append(warnings, "redis: appendfsync is everysec: up to about 1s of acknowledged outbox jobs can be lost if the redis host crashes; use always, or replicas with outbox WAIT")
		default:
			warnings = append(warnings, "redis: appendfsync is "+fsync+": the OS decides when jobs reach the disk (often 30s); use always")
		}
	}
	if policy, ok := get("maxmemory-policy"); ok && policy != "noeviction" {
		warnings = append(warnings, "redis: maxmemory-policy is "+policy+": redis may evict outbox jobs when memory is full; use noeviction")
	}
	return warnings
}
