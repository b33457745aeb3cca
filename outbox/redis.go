package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated is returned (wrapped) by RedisStore.Enqueue when
// RedisOptions.WaitReplicas is set and fewer replicas acknowledged the job
// within WaitTimeout. The job is committed on the primary and will run;
// it is lost only if the primary fails before a replica catches up.
var ErrNotReplicated = errors.New("outbox: job not acknowledged by enough redis replicas")

// RedisOptions tunes OpenRedis. The zero value is ready to use.
type RedisOptions struct {
	// Prefix namespaces every key: keys are "{Prefix}:...", one hash tag,
	// so that on Redis Cluster the outbox lives in one slot (its Lua
	// scripts touch several keys). Sidecars sharing an outbox use the same
	// Prefix. Default "holdline:outbox".
	Prefix string
	// Group is the stream consumer group. Default "holdline".
	Group string
	// Consumer names this process in the group. It must be unique in the
	// fleet and new for every process. Default hostname-pid-random.
	Consumer string
	// ClaimIdle is how long a run may go without a heartbeat before
	// another sidecar takes its job back (its owner is presumed dead) and
	// makes it pending. It bounds how long a dead pod's jobs wait; a live
	// owner stalled longer than this (a long GC pause, a partition) loses
	// its job to a peer, so the handler may run twice and must be
	// idempotent. Default 30s.
	ClaimIdle time.Duration
	// Heartbeat is how often this store refreshes its runs' idle time and
	// looks for runs of dead consumers. Default ClaimIdle/3.
	Heartbeat time.Duration
	// WaitReplicas, when positive, makes Enqueue wait (Redis WAIT) until
	// that many replicas hold the job, or WaitTimeout passes
	// (ErrNotReplicated). Default 0: the primary's own persistence only.
	WaitReplicas int
	// WaitTimeout bounds the WAIT. Default 1s.
	WaitTimeout time.Duration
	// Logger receives the background loop's errors. Nil discards.
	Logger *slog.Logger
}

// RedisStore is the fleet Store: job state lives in Redis hashes and
// sorted sets changed only by Lua scripts (atomic server-side), and every
// run of a job is an entry of a Redis stream read through a consumer
// group, so that a run whose sidecar died is found (XAUTOCLAIM) and its
// job given to a live one. Any number of RedisStores, in any number of
// processes, may share one Redis and Prefix; ordering per interaction,
// idempotency keys and exactly-once claims hold across all of them. See
// docs/scaling.md.
//
// It is safe for concurrent use. OpenRedis starts a background goroutine
// (heartbeats and reaping) that Close stops; Close does not close the
// Redis client, which belongs to the caller.
type RedisStore struct {
	rdb      redis.UniversalClient
	p        string // "{prefix}"
	group    string
	consumer string
	opts     RedisOptions
	log      *slog.Logger

	mu     sync.RWMutex // held shared by calls, exclusively by Close
	closed bool
	stop   context.CancelFunc
	bg     sync.WaitGroup

	tokMu  sync.Mutex
	tokens map[string]string // job id -> stream entry of this store's run

	enq chan *enqueueReq // to the committers (redis_enqueue.go)
}

var _ Store = (*RedisStore)(nil)

// OpenRedis returns a RedisStore on rdb. It creates the consumer group if
// needed, loads the scripts and starts the heartbeat loop. It does not
// check persistence; see CheckPersistence.
func OpenRedis(ctx context.Context, rdb redis.UniversalClient, opts RedisOptions) (*RedisStore, error) {
	if rdb == nil {
		return nil, errors.New("outbox: open redis: client is nil")
	}
	if opts.Prefix == "" {
		opts.Prefix = "holdline:outbox"
	}
	if opts.Group == "" {
		opts.Group = "holdline"
	}
	if opts.Consumer == "" {
		opts.Consumer = consumerName()
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = 30 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = opts.ClaimIdle / 3
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = time.Second
	}
	var errs []error
	if strings.ContainsAny(opts.Prefix, "{}") {
		errs = append(errs, fmt.Errorf("outbox: open redis: %w: prefix %q holds a brace", ErrInvalid, opts.Prefix))
	}
	if opts.Heartbeat >= opts.ClaimIdle {
		errs = append(errs, fmt.Errorf("outbox: open redis: %w: heartbeat %s must be shorter than claim idle %s", ErrInvalid, opts.Heartbeat, opts.ClaimIdle))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &RedisStore{
		rdb: rdb, p: "{" + opts.Prefix + "}", group: opts.Group, consumer: opts.Consumer,
		opts: opts, log: log, tokens: map[string]string{},
		enq: make(chan *enqueueReq, enqueueBatchMax),
	}
	err := rdb.XGroupCreateMkStream(ctx, s.key("run"), s.group, "$").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("outbox: open redis: create consumer group: %w", err)
	}
	for _, sc := range []*redis.Script{scriptEnqueue, scriptClaim, scriptFinish, scriptReplay, scriptPurge, scriptStats, scriptRecoverOwn, scriptReap, scriptForgetConsumer} {
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return nil, fmt.Errorf("outbox: open redis: load scripts: %w", err)
		}
	}
	bgctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.bg.Go(func() { s.maintain(bgctx) })
	for range enqueueCommitters {
		s.bg.Go(func() { s.commitLoop(bgctx) })
	}
	return s, nil
}

// Consumer returns this store's consumer name in the group.
func (s *RedisStore) Consumer() string { return s.consumer }

// Close stops the background loop and makes every later call return
// ErrClosed. Calls in progress finish first. Runs this store still holds
// stay in Redis; a peer takes them back after ClaimIdle.
func (s *RedisStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.bg.Wait()
	return nil
}

// enter holds off Close for the duration of a call.
func (s *RedisStore) enter() (func(), error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.mu.RUnlock, nil
}

func (s *RedisStore) key(parts ...string) string {
	return s.p + ":" + strings.Join(parts, ":")
}

func (s *RedisStore) run(ctx context.Context, sc *redis.Script, args ...any) (any, error) {
	return sc.Run(ctx, s.rdb, []string{s.p}, args...).Result()
}

// nsString is t as 20-digit zero-padded nanoseconds, the stored form.
func nsString(t time.Time) string {
	return fmt.Sprintf("%020d", max(t.UnixNano(), 0))
}

func usString(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, id string) (Job, error) {
	done, err := s.enter()
	if err != nil {
		return Job{}, fmt.Errorf("outbox: get: %w", err)
	}
	defer done()
	jobs, err := s.load(ctx, []string{id})
	if err != nil {
		return Job{}, fmt.Errorf("outbox: get: %w", err)
	}
	if jobs[0] == nil {
		return Job{}, fmt.Errorf("outbox: get: %w: %s", ErrNotFound, id)
	}
	return *jobs[0], nil
}

// load reads jobs in one pipeline; a missing job is nil.
func (s *RedisStore) load(ctx context.Context, ids []string) ([]*Job, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.key("job", id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]*Job, len(ids))
	for i, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			j, err := decodeRedisJob(ids[i], m)
			if err != nil {
				return nil, err
			}
			out[i] = &j
		}
	}
	return out, nil
}

// List implements Store.
func (s *RedisStore) List(ctx context.Context, f Filter) ([]Job, string, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, "", fmt.Errorf("outbox: list: %w: state %q", ErrInvalid, f.State)
	}
	done, err := s.enter()
	if err != nil {
		return nil, "", fmt.Errorf("outbox: list: %w", err)
	}
	defer done()
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	index := s.key("all")
	switch {
	case f.Interaction != "":
		index = s.key("ix", f.Interaction)
	case f.State != "":
		index = s.key("state", string(f.State))
	}
	lo := "-"
	if !f.Since.IsZero() && f.Since.UnixMilli() > 0 {
		var u ulid.ULID
		if err := u.SetTime(ulid.Timestamp(f.Since)); err == nil {
			lo = "[" + u.String()
		}
	}
	if f.Cursor != "" && (lo == "-" || "("+f.Cursor > lo) {
		lo = "(" + f.Cursor
	}
	var jobs []Job
	for {
		ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: index, Start: lo, Stop: "+", ByLex: true, Count: 256}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("outbox: list: %w", err)
		}
		if len(ids) == 0 {
			return jobs, "", nil
		}
		loaded, err := s.load(ctx, ids)
		if err != nil {
			return nil, "", fmt.Errorf("outbox: list: %w", err)
		}
		for _, j := range loaded {
			if j == nil || !f.match(j) {
				continue
			}
			if len(jobs) == limit {
				return jobs, jobs[len(jobs)-1].ID, nil
			}
			jobs = append(jobs, *j)
		}
		lo = "(" + ids[len(ids)-1]
	}
}

// Interaction implements Store.
func (s *RedisStore) Interaction(ctx context.Context, interactionID string) ([]Job, error) {
	if interactionID == "" {
		return nil, nil
	}
	done, err := s.enter()
	if err != nil {
		return nil, fmt.Errorf("outbox: interaction: %w", err)
	}
	defer done()
	ids, err := s.rdb.ZRange(ctx, s.key("ix", interactionID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox: interaction: %w", err)
	}
	loaded, err := s.load(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("outbox: interaction: %w", err)
	}
	var jobs []Job
	for _, j := range loaded {
		if j != nil {
			jobs = append(jobs, *j)
		}
	}
	return jobs, nil
}

// Claim implements Store. The claim is one script: two sidecars never
// claim the same job, nor two jobs of one interaction. Each claimed job is
// a run (a stream entry delivered to this store's consumer) that this
// store heartbeats until Complete or Fail.
func (s *RedisStore) Claim(ctx context.Context, now time.Time, max int, paused func(string) bool) ([]Job, error) {
	if max <= 0 {
		return nil, nil
	}
	done, err := s.enter()
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	defer done()
	deps, err := s.rdb.SMembers(ctx, s.key("deps")).Result()
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	args := []any{usString(now), nsString(now), max, s.group, s.consumer}
	n := len(args)
	for _, d := range deps {
		if paused == nil || !paused(d) {
			args = append(args, d)
		}
	}
	if len(args) == n {
		return nil, nil
	}
	res, err := s.run(ctx, scriptClaim, args...)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	var jobs []Job
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	for _, r := range res.([]any) {
		j, err := decodeReply(r)
		if err != nil {
			return nil, fmt.Errorf("outbox: claim: %w", err)
		}
		s.tokens[j.ID] = j.token
		jobs = append(jobs, j.Job)
	}
	return jobs, nil
}

// finish applies an outcome to a job this store's run holds. A job that
// was taken back by a peer (this store stalled past ClaimIdle) gives
// ErrNotInflight: the fencing token no longer matches.
func (s *RedisStore) finish(ctx context.Context, id string, args ...any) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	s.tokMu.Lock()
	tok := s.tokens[id]
	s.tokMu.Unlock()
	res, err := s.run(ctx, scriptFinish, append([]any{id, tok, s.group}, args...)...)
	if err != nil {
		return err
	}
	r := res.([]any)
	switch r[0] {
	case "ok":
	case "notfound":
		err = fmt.Errorf("%w: %s", ErrNotFound, id)
	default:
		state, _ := r[1].(string)
		if state == string(Inflight) {
			state = "inflight in another run"
		}
		err = fmt.Errorf("%w: %s is %s", ErrNotInflight, id, state)
	}
	if err == nil || tok != "" {
		s.tokMu.Lock()
		delete(s.tokens, id)
		s.tokMu.Unlock()
	}
	return err
}

// Complete implements Store.
func (s *RedisStore) Complete(ctx context.Context, id string, result json.RawMessage) error {
	if len(result) > 0 && !json.Valid(result) {
		return fmt.Errorf("outbox: complete: %w: result is not valid JSON", ErrInvalid)
	}
	if err := s.finish(ctx, id, "done", string(result), "", "0", "", ""); err != nil {
		return fmt.Errorf("outbox: complete: %w", err)
	}
	return nil
}

// Fail implements Store.
func (s *RedisStore) Fail(ctx context.Context, id string, f Failure) error {
	outcome, counted, rns, rus := "fail", "1", "", ""
	switch {
	case f.Dead:
		outcome = "dead"
	case f.Held:
		outcome = "held"
	}
	if f.Uncounted {
		counted = "0"
	}
	if !f.RetryAt.IsZero() {
		rns, rus = nsString(f.RetryAt), usString(f.RetryAt)
	}
	if err := s.finish(ctx, id, outcome, "", truncate(f.Err, maxLastErrorLen), counted, rns, rus); err != nil {
		return fmt.Errorf("outbox: fail: %w", err)
	}
	return nil
}

// Replay implements Store.
func (s *RedisStore) Replay(ctx context.Context, id string) (Job, error) {
	done, err := s.enter()
	if err != nil {
		return Job{}, fmt.Errorf("outbox: replay: %w", err)
	}
	defer done()
	res, err := s.run(ctx, scriptReplay, id)
	if err != nil {
		return Job{}, fmt.Errorf("outbox: replay: %w", err)
	}
	r := res.([]any)
	switch r[0] {
	case "notfound":
		return Job{}, fmt.Errorf("outbox: replay: %w: %s", ErrNotFound, id)
	case "inflight":
		return Job{}, fmt.Errorf("outbox: replay: %w: %s", ErrInflight, id)
	}
	j, err := decodeReply(r[1])
	if err != nil {
		return Job{}, fmt.Errorf("outbox: replay: %w", err)
	}
	return j.Job, nil
}

// Purge implements Store. It deletes in scripts of up to 1000 jobs.
func (s *RedisStore) Purge(ctx context.Context, state State, olderThan time.Time) (int, error) {
	if state != Done && state != Dead {
		return 0, fmt.Errorf("outbox: purge: %w: state %q (want done or dead)", ErrInvalid, state)
	}
	done, err := s.enter()
	if err != nil {
		return 0, fmt.Errorf("outbox: purge: %w", err)
	}
	defer done()
	total, after := 0, ""
	for {
		res, err := s.run(ctx, scriptPurge, string(state), nsString(olderThan), after, purgeChunk)
		if err != nil {
			return total, fmt.Errorf("outbox: purge: %w", err)
		}
		r := res.([]any)
		total += int(r[0].(int64))
		after = r[1].(string)
		if r[2] == int64(0) {
			return total, nil
		}
	}
}

// Stats implements Store. It is one script: the counts are a consistent
// snapshot.
func (s *RedisStore) Stats(ctx context.Context) (Stats, error) {
	done, err := s.enter()
	if err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	defer done()
	res, err := s.run(ctx, scriptStats)
	if err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	r := res.([]any)
	st := Stats{
		Pending:  int(r[0].(int64)),
		Inflight: int(r[1].(int64)),
		Dead:     int(r[2].(int64)),
		Done:     int(r[3].(int64)),
		Blocked:  int(r[4].(int64)),
		Held:     int(r[6].(int64)),
	}
	if st.OldestPending, err = parseNS(r[5].(string)); err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	return st, nil
}

// RecoverInflight implements Store for a fleet: it makes pending the jobs
// of every run this store's consumer holds (the caller says none of its
// workers is running), and the jobs of runs of any consumer that has not
// heartbeated for ClaimIdle (a dead process). Runs of live peers are left
// alone, so a restarting sidecar never steals work in progress.
func (s *RedisStore) RecoverInflight(ctx context.Context) (int, error) {
	done, err := s.enter()
	if err != nil {
		return 0, fmt.Errorf("outbox: recover inflight: %w", err)
	}
	defer done()
	own, err := s.run(ctx, scriptRecoverOwn, s.group, s.consumer)
	if err != nil {
		return 0, fmt.Errorf("outbox: recover inflight: %w", err)
	}
	s.tokMu.Lock()
	clear(s.tokens)
	s.tokMu.Unlock()
	reaped, err := s.reap(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: recover inflight: %w", err)
	}
	return int(own.(int64)) + reaped, nil
}

// claimed is a job with the token of the run that holds it.
type claimed struct {
	Job
	token string
}

// decodeReply decodes {id, HGETALL fields} from a script.
func decodeReply(v any) (claimed, error) {
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return claimed{}, fmt.Errorf("unexpected reply %v", v)
	}
	id, _ := r[0].(string)
	fields, _ := r[1].([]any)
	m := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		m[k] = v
	}
	j, err := decodeRedisJob(id, m)
	return claimed{Job: j, token: m["tok"]}, err
}

func decodeRedisJob(id string, m map[string]string) (Job, error) {
	j := Job{
		ID:             id,
		Kind:           m["kd"],
		Dependency:     m["p"],
		InteractionID:  m["k"],
		IdempotencyKey: m["i"],
		State:          State(m["s"]),
		LastError:      m["e"],
		Origin:         Origin{RequestID: m["rq"], TraceParent: m["tp"], TraceState: m["ts"]},
	}
	if p := m["pl"]; p != "" {
		j.Payload = json.RawMessage(p)
	}
	if r := m["r"]; r != "" {
		j.Result = json.RawMessage(r)
	}
	var errs []error
	var err error
	if j.Attempts, err = strconv.Atoi(m["a"]); err != nil {
		errs = append(errs, err)
	}
	for _, t := range []struct {
		dst *time.Time
		key string
	}{{&j.NextAttemptAt, "n"}, {&j.FirstFailedAt, "f"}, {&j.CreatedAt, "c"}, {&j.UpdatedAt, "u"}} {
		if *t.dst, err = parseNS(m[t.key]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Job{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	return j, nil
}

// parseNS parses a stored time; "" is the zero time.
func parseNS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, ns).UTC(), nil
}
