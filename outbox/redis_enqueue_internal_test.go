package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/holdline/holdline/internal/testenv"
)

func openTestRedis(t *testing.T) (*RedisStore, *redis.Client) {
	t.Helper()
	srv := testenv.StartRedis(t, testenv.RedisOptions{Persist: true})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	s, err := OpenRedis(t.Context(), rdb, RedisOptions{Prefix: "test:" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, rdb
}

func newReq(ctx context.Context, j Job) *enqueueReq {
	return &enqueueReq{ctx: ctx, job: j, done: make(chan enqueueRes, 1), args: [enqueueArgs]any{
		j.IdempotencyKey, j.Kind, j.Dependency, j.InteractionID, string(j.Payload), "", "", "", "", ""}}
}

// TestRedisCommitBatch commits one batch directly: jobs of one
// interaction keep their batch order (only the first is claimable), a
// second job with an idempotency key already used in the same batch gets
// the first one's job, and jobs whose callers gave up before the batch was
// sent are not stored and not answered.
func TestRedisCommitBatch(t *testing.T) {
	s, _ := openTestRedis(t)
	ctx := t.Context()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	first := newReq(ctx, Job{Kind: "k", Dependency: "crm", InteractionID: "call-1", IdempotencyKey: "a", Payload: json.RawMessage(`{"n":1}`)})
	dup := newReq(ctx, Job{Kind: "k", Dependency: "crm", InteractionID: "call-1", IdempotencyKey: "a", Payload: json.RawMessage(`{"n":2}`)})
	second := newReq(ctx, Job{Kind: "k", Dependency: "crm", InteractionID: "call-1", IdempotencyKey: "b"})
	other := newReq(ctx, Job{Kind: "k", Dependency: "crm", InteractionID: "call-2"})
	abandoned := newReq(ctx, Job{Kind: "k", Dependency: "crm", InteractionID: "call-3", IdempotencyKey: "c"})
	abandoned.state.Store(reqAbandoned)
	cancelled := newReq(gone, Job{Kind: "k", Dependency: "crm", InteractionID: "call-4", IdempotencyKey: "d"})

	s.commit(ctx, []*enqueueReq{first, dup, abandoned, second, cancelled, other})

	res := map[string]enqueueRes{}
	for name, r := range map[string]*enqueueReq{"first": first, "dup": dup, "second": second, "other": other} {
		select {
		case res[name] = <-r.done:
		default:
			t.Fatalf("%s not answered", name)
		}
		if res[name].err != nil {
			t.Fatalf("%s: %v", name, res[name].err)
		}
	}
	for name, r := range map[string]*enqueueReq{"abandoned": abandoned, "cancelled": cancelled} {
		select {
		case got := <-r.done:
			t.Errorf("%s answered %+v, want no answer", name, got)
		default:
		}
	}
	if !res["first"].created || res["dup"].created || !res["second"].created || !res["other"].created {
		t.Errorf("created = first %v dup %v second %v other %v, want true false true true",
			res["first"].created, res["dup"].created, res["second"].created, res["other"].created)
	}
	if diff := cmp.Diff(res["first"].job, res["dup"].job); diff != "" {
		t.Errorf("the duplicate's job differs from the first's (-first +dup):\n%s", diff)
	}
	a, b, o := res["first"].job, res["second"].job, res["other"].job
	if !(a.ID < b.ID && b.ID < o.ID) {
		t.Errorf("IDs %s %s %s, want increasing in batch order", a.ID, b.ID, o.ID)
	}
	if !a.CreatedAt.Equal(o.CreatedAt) {
		t.Errorf("CreatedAt %v and %v, want one commit time", a.CreatedAt, o.CreatedAt)
	}
	for _, j := range []Job{a, b, o} {
		got, err := s.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(j, got); diff != "" {
			t.Errorf("Get(%s) differs from the enqueue answer (-enqueue +get):\n%s", j.ID, diff)
		}
	}
	all, _, err := s.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("store holds %d jobs, want 3 (the abandoned and cancelled ones not sent)", len(all))
	}
	claimed, err := s.Claim(ctx, time.Now().Add(time.Minute), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, j := range claimed {
		got = append(got, j.ID)
	}
	slices.Sort(got)
	if want := []string{a.ID, o.ID}; !slices.Equal(got, want) {
		t.Errorf("Claim = %v, want the heads %v (the second job of call-1 waits behind the first)", got, want)
	}
}

// scriptEnqueueV1 is the enqueue script of the previous version (one job a
// call), as sidecars not yet upgraded still run it.
var scriptEnqueueV1 = redis.NewScript(luaCommon + `

local idem, kind, dep, iid, payload, nxt, nt = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local rq, tp, ts = ARGV[8] or '', ARGV[9] or '', ARGV[10] or ''
if idem ~= '' then
  local id = redis.call('HGET', P .. ':idem', idem)
  if id then return {0, reply(id)} end
end
local ns, us = now()
local ms = math.floor(tonumber(us) / 1000)
local last = redis.call('HMGET', P .. ':seq', 'ms', 'n')
local n = 0
if last[1] and tonumber(last[1]) >= ms then
  ms = tonumber(last[1])
  n = tonumber(last[2]) + 1
end
redis.call('HSET', P .. ':seq', 'ms', string.format('%.0f', ms), 'n', string.format('%.0f', n))
local A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local function enc(v, width)
  local s = ''
  for _ = 1, width do
    local d = v % 32
    s = string.sub(A, d + 1, d + 1) .. s
    v = math.floor(v / 32)
  end
  return s
end
local id = enc(ms, 10) .. enc(n, 16)
if nxt == '' then nxt, nt = ns, us end
redis.call('HSET', jkey(id), 'kd', kind, 'p', dep, 'k', iid, 'i', idem, 'pl', payload,
  's', 'pending', 'a', 0, 'n', nxt, 't', nt, 'c', ns, 'u', ns, 'f', '', 'e', '', 'r', '', 'tok', '', 'o', '',
  'rq', rq, 'tp', tp, 'ts', ts)
redis.call('ZADD', P .. ':all', 0, id)
redis.call('ZADD', P .. ':state:pending', 0, id)
if iid ~= '' then redis.call('ZADD', P .. ':ix:' .. iid, 0, id) end
if idem ~= '' then redis.call('HSET', P .. ':idem', idem, id) end
refresh(iid, id)
return {1, reply(id)}
`)

// TestRedisUpgrade shares one Redis between the previous version's enqueue
// (a sidecar not yet upgraded) and this one, as a rolling upgrade does:
// both store a job as the same hash, with the same fields and values but
// for the id and times; the new store reads, orders and runs jobs the old
// one stored; and a job stored by the new one behind an old one waits for
// it.
func TestRedisUpgrade(t *testing.T) {
	s, rdb := openTestRedis(t)
	ctx := t.Context()
	old := func(idem, iid string) string {
		t.Helper()
		res, err := scriptEnqueueV1.Run(ctx, rdb, []string{s.p}, idem, "crm.create_record", "crm", iid, `{"subject":"call"}`, "", "",
			"req-1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "").Result()
		if err != nil {
			t.Fatalf("previous version's enqueue: %v", err)
		}
		return res.([]any)[1].([]any)[0].(string)
	}
	oldID := old("rec-1", "call-1")
	newJob, created, err := s.Enqueue(ctx, Job{Kind: "crm.create_record", Dependency: "crm", InteractionID: "call-1", IdempotencyKey: "rec-2",
		Payload: json.RawMessage(`{"subject":"call"}`), Origin: Origin{RequestID: "req-1", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	if err != nil || !created {
		t.Fatalf("Enqueue = %v, %v", created, err)
	}
	if newJob.ID <= oldID {
		t.Errorf("new id %s not after the old version's %s", newJob.ID, oldID)
	}
	oldHash, err := rdb.HGetAll(ctx, s.key("job", oldID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	newHash, err := rdb.HGetAll(ctx, s.key("job", newJob.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The new version leaves out fields that readers take as empty when
	// absent; every field it writes is one the old version wrote.
	for k := range newHash {
		if _, ok := oldHash[k]; !ok {
			t.Errorf("new version writes field %s, which the old version does not", k)
		}
	}
	for k, v := range oldHash {
		nv, ok := newHash[k]
		switch {
		case !ok && !slices.Contains([]string{"e", "r", "tok", "o", "rq", "tp", "ts"}, k):
			t.Errorf("new version leaves out field %s, which readers need", k)
		case !ok && v != "":
			t.Errorf("new version leaves out field %s, which the old version stored as %q", k, v)
		case k == "n", k == "t", k == "c", k == "u", k == "i":
		case ok && nv != v:
			t.Errorf("field %s: old version %q, new %q", k, v, nv)
		}
	}
	oldJob, err := s.Get(ctx, oldID)
	if err != nil {
		t.Fatal(err)
	}
	oldJob.ID, oldJob.IdempotencyKey, oldJob.CreatedAt, oldJob.UpdatedAt, oldJob.NextAttemptAt = newJob.ID, newJob.IdempotencyKey, newJob.CreatedAt, newJob.UpdatedAt, newJob.NextAttemptAt
	if diff := cmp.Diff(oldJob, newJob); diff != "" {
		t.Errorf("the two versions' jobs read back differently (-old +new):\n%s", diff)
	}
	// The old version's idempotency key holds for the new store.
	again, created, err := s.Enqueue(ctx, Job{Kind: "crm.create_record", Dependency: "crm", InteractionID: "call-1", IdempotencyKey: "rec-1"})
	if err != nil || created || again.ID != oldID {
		t.Errorf("Enqueue(old key) = %s, %v, %v, want %s, false, nil", again.ID, created, err, oldID)
	}
	// And the new version's for the old one.
	res, err := scriptEnqueueV1.Run(ctx, rdb, []string{s.p}, "rec-2", "k", "crm", "call-1", "", "", "", "", "", "").Result()
	if err != nil || res.([]any)[0] != int64(0) || res.([]any)[1].([]any)[0] != newJob.ID {
		t.Errorf("previous version's enqueue of the new key = %v, %v, want the new job", res, err)
	}
	// Only the old job is claimable; once done, the new one is.
	for i, want := range []string{oldID, newJob.ID} {
		jobs, err := s.Claim(ctx, time.Now().Add(time.Minute), 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 || jobs[0].ID != want {
			t.Fatalf("claim %d = %v, want only %s", i+1, jobs, want)
		}
		if jobs[0].Origin.RequestID != "req-1" || string(jobs[0].Payload) != `{"subject":"call"}` {
			t.Errorf("claimed %s: origin %+v payload %s", want, jobs[0].Origin, jobs[0].Payload)
		}
		if err := s.Complete(ctx, want, json.RawMessage(`{"ok":true}`)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != 2 || st.Pending != 0 {
		t.Errorf("Stats = %+v, want 2 done", st)
	}
	// A job the old version stores behind a pending new one waits too.
	n2, _, err := s.Enqueue(ctx, Job{Kind: "k", Dependency: "crm", InteractionID: "call-2"})
	if err != nil {
		t.Fatal(err)
	}
	o2 := old("", "call-2")
	jobs, err := s.Claim(ctx, time.Now().Add(time.Minute), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].ID != n2.ID {
		t.Errorf("Claim = %v, want only %s (%s waits behind it)", jobs, n2.ID, o2)
	}
}

// TestRedisEnqueueCallerDeadline stalls Redis (CLIENT PAUSE) under an
// Enqueue whose context has a short deadline: the caller is answered with
// its own context's error once that context is done, never with a timeout
// of the batch before its own deadline.
func TestRedisEnqueueCallerDeadline(t *testing.T) {
	s, rdb := openTestRedis(t)
	if err := rdb.Do(t.Context(), "CLIENT", "PAUSE", 500, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, _, err := s.Enqueue(ctx, Job{Kind: "k", InteractionID: "call-1"})
	if ctx.Err() == nil {
		t.Fatalf("Enqueue returned %v before its context was done", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Enqueue error = %v, want DeadlineExceeded", err)
	}
}

// TestRedisCommitEarliestDeadline: a batch ends at the earliest deadline
// of its callers (as a job sent alone did), so that no job is sent after
// its caller gave up; the caller whose deadline passed answers itself, and
// a caller with more time is told the batch timed out rather than left
// waiting.
func TestRedisCommitEarliestDeadline(t *testing.T) {
	s, rdb := openTestRedis(t)
	if err := rdb.Do(t.Context(), "CLIENT", "PAUSE", 300, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	hurried := newReq(short, Job{Kind: "k", InteractionID: "call-1"})
	patient := newReq(t.Context(), Job{Kind: "k", InteractionID: "call-2"})
	s.commit(t.Context(), []*enqueueReq{hurried, patient})
	select {
	case got := <-hurried.done:
		t.Errorf("the caller whose deadline passed was answered %+v, want it to answer itself", got)
	default:
	}
	select {
	case got := <-patient.done:
		if !errors.Is(got.err, context.DeadlineExceeded) {
			t.Errorf("patient caller's error = %v, want DeadlineExceeded", got.err)
		}
	default:
		t.Error("patient caller not answered")
	}
}
