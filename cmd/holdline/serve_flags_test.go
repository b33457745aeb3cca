package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdline/holdline/internal/config"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want config.Redis
		bad  bool
	}{
		{in: "redis://127.0.0.1:6380/2", want: config.Redis{Addr: "127.0.0.1:6380", DB: 2}},
		{in: "redis://redis.internal", want: config.Redis{Addr: "redis.internal:6379"}},
		{in: "rediss://holdline:s3cret@redis.internal:6380/0", want: config.Redis{Addr: "redis.internal:6380", Username: "holdline", Password: "s3cret", TLS: true}},
		{in: "http://redis:6379", bad: true},
		{in: "redis://host:6379/x", bad: true},
	}
	for _, tt := range tests {
		got, err := parseRedisURL(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseRedisURL(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRedisURL(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseRedisURL(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
