package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Check verifies that the store's indexes agree with its jobs: the
// all/state/interaction sets, the idempotency map, the ready sets (exactly
// the claimable interaction heads) and the runs (every inflight job has
// one, in the stream). It is test code: the package's tests (and the
// storetest suite, through storetest.Checker) call it after every test,
// while nothing writes; it is not atomic.
func (s *RedisStore) Check() error {
	ctx := context.Background()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	ids, err := s.rdb.ZRange(ctx, s.key("all"), 0, -1).Result()
	if err != nil {
		return err
	}
	loaded, err := s.load(ctx, ids)
	if err != nil {
		return err
	}
	jobs := map[string]*Job{}
	fields := map[string]map[string]string{}
	for i, j := range loaded {
		if j == nil {
			bad("all holds %s, which has no job hash", ids[i])
			continue
		}
		jobs[j.ID] = j
		m, err := s.rdb.HGetAll(ctx, s.key("job", j.ID)).Result()
		if err != nil {
			return err
		}
		fields[j.ID] = m
	}
	// States.
	for _, st := range []State{Pending, Inflight, Done, Dead, Held} {
		members, err := s.rdb.ZRange(ctx, s.key("state", string(st)), 0, -1).Result()
		if err != nil {
			return err
		}
		var want []string
		for _, id := range ids {
			if j := jobs[id]; j != nil && j.State == st {
				want = append(want, id)
			}
		}
		if !slices.Equal(members, want) {
			bad("state set %s = %v, want %v", st, members, want)
		}
	}
	// Interactions, heads and ready sets.
	byInteraction := map[string][]*Job{}
	wantReady := map[string]map[string]bool{} // dependency -> ids
	addReady := func(j *Job) {
		if wantReady[j.Dependency] == nil {
			wantReady[j.Dependency] = map[string]bool{}
		}
		wantReady[j.Dependency][j.ID] = true
	}
	for _, id := range ids {
		j := jobs[id]
		if j == nil {
			continue
		}
		if j.InteractionID == "" {
			if j.State == Pending || j.State == Held {
				addReady(j)
			}
			continue
		}
		byInteraction[j.InteractionID] = append(byInteraction[j.InteractionID], j)
	}
	for iid, js := range byInteraction {
		members, err := s.rdb.ZRange(ctx, s.key("ix", iid), 0, -1).Result()
		if err != nil {
			return err
		}
		if want := jobIDs(js); !slices.Equal(members, want) {
			bad("interaction %q index = %v, want %v", iid, members, want)
		}
		busy := slices.ContainsFunc(js, func(j *Job) bool { return j.State == Inflight })
		if i := slices.IndexFunc(js, func(j *Job) bool { return j.State != Done }); i >= 0 && (js[i].State == Pending || js[i].State == Held) && !busy {
			addReady(js[i])
		}
	}
	deps, err := s.rdb.SMembers(ctx, s.key("deps")).Result()
	if err != nil {
		return err
	}
	for dep := range wantReady {
		if !slices.Contains(deps, dep) {
			deps = append(deps, dep)
		}
	}
	for _, dep := range deps {
		zs, err := s.rdb.ZRangeWithScores(ctx, s.key("ready", dep), 0, -1).Result()
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, z := range zs {
			id := z.Member.(string)
			got[id] = true
			if j := jobs[id]; j != nil && int64(z.Score) != j.NextAttemptAt.UnixMicro() {
				bad("ready %q scores %s at %v, its NextAttemptAt is %v", dep, id, int64(z.Score), j.NextAttemptAt.UnixMicro())
			}
		}
		for id := range got {
			if !wantReady[dep][id] {
				bad("ready %q holds %s, which is not a claimable head", dep, id)
			}
		}
		for id := range wantReady[dep] {
			if !got[id] {
				bad("ready %q lacks claimable head %s", dep, id)
			}
		}
	}
	// Idempotency keys.
	idem, err := s.rdb.HGetAll(ctx, s.key("idem")).Result()
	if err != nil {
		return err
	}
	for k, id := range idem {
		if j := jobs[id]; j == nil || j.IdempotencyKey != k {
			bad("idempotency key %q maps to %s, which does not hold it", k, id)
		}
	}
	for _, j := range jobs {
		if j.IdempotencyKey != "" && idem[j.IdempotencyKey] != j.ID {
			bad("job %s holds key %q, which maps to %q", j.ID, j.IdempotencyKey, idem[j.IdempotencyKey])
		}
	}
	// Runs.
	for id, m := range fields {
		tok := m["tok"]
		switch {
		case jobs[id].State != Inflight && tok != "":
			bad("job %s is %s but holds run %s", id, jobs[id].State, tok)
		case jobs[id].State == Inflight:
			e, err := s.rdb.XRange(ctx, s.key("run"), tok, tok).Result()
			if err != nil {
				return err
			}
			if len(e) != 1 || e[0].Values["job"] != id {
				bad("inflight job %s: run %q is not in the stream", id, tok)
			}
		}
	}
	return errors.Join(errs...)
}

func jobIDs(js []*Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}
