package outbox

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group commit. Concurrent Enqueue calls on one RedisStore go to Redis
// together: each call queues its job, and a few committer goroutines each
// take every job queued so far (up to enqueueBatchMax) and store them with
// one script call. Redis runs the script atomically and, with appendfsync
// always, fsyncs the append-only file before it answers; only then is
// each caller answered, with its own job. So an Enqueue that returns nil
// means exactly what it meant before: the job is in Redis, as durable as
// Redis's persistence makes it. Under light load a job goes alone (an idle
// committer takes it at once); under heavy load the batches grow by
// themselves while the committers wait for Redis.
const (
	// enqueueBatchMax bounds the jobs of one script call, so that one
	// call holds Redis's only thread for a bounded time (20-30 µs a job
	// measured on a busy 2-core VM: a few ms at most).
	enqueueBatchMax = 128
	// enqueueCommitters is how many batches one store has in flight at
	// once (each holds a connection while Redis fsyncs).
	enqueueCommitters = 2
)

// enqueueReq is one Enqueue call waiting for its batch.
type enqueueReq struct {
	ctx  context.Context
	job  Job
	args [enqueueArgs]any
	// state is reqQueued until a committer takes the job (reqTaken) or
	// its caller gives up first (reqAbandoned): a job whose caller has
	// already returned an error is never sent.
	state atomic.Int32
	done  chan enqueueRes // buffered: a committer never blocks on it
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

type enqueueRes struct {
	job     Job
	created bool
	err     error
}

// enqueueArgs is how many script arguments one job takes (see
// scriptEnqueue).
const enqueueArgs = 10

// Enqueue implements Store. The id and CreatedAt come from the Redis
// server's clock, so ID order is commit order across the fleet (jobs
// committed together share one CreatedAt, and their IDs follow their
// order in the batch). With WaitReplicas set it also waits for replicas
// (see ErrNotReplicated). It returns when Redis has answered for the job,
// or when ctx is done: a job whose caller gave up before its batch was
// sent is not sent.
func (s *RedisStore) Enqueue(ctx context.Context, j Job) (Job, bool, error) {
	if err := validateJob(j); err != nil {
		return Job{}, false, err
	}
	done, err := s.enter()
	if err != nil {
		return Job{}, false, fmt.Errorf("outbox: enqueue: %w", err)
	}
	defer done()
	nxt, nt := "", ""
	if !j.NextAttemptAt.IsZero() {
		nxt, nt = nsString(j.NextAttemptAt), usString(j.NextAttemptAt)
	}
	r := &enqueueReq{ctx: ctx, job: j, done: make(chan enqueueRes, 1), args: [enqueueArgs]any{
		j.IdempotencyKey, j.Kind, j.Dependency, j.InteractionID, string(j.Payload), nxt, nt,
		j.Origin.RequestID, j.Origin.TraceParent, j.Origin.TraceState}}
	select {
	case s.enq <- r:
	case <-ctx.Done():
		return Job{}, false, fmt.Errorf("outbox: enqueue: %w", ctx.Err())
	}
	select {
	case res := <-r.done:
		return res.job, res.created, res.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return Job{}, false, fmt.Errorf("outbox: enqueue: %w", ctx.Err())
		}
		// Taken: the answer may be on its way; prefer it if it is there.
		select {
		case res := <-r.done:
			return res.job, res.created, res.err
		default:
			return Job{}, false, fmt.Errorf("outbox: enqueue: %w", ctx.Err())
		}
	}
}

// commitLoop is one committer: it takes the first queued job, every other
// job queued by then (up to enqueueBatchMax), and commits them together,
// until ctx is done.
func (s *RedisStore) commitLoop(ctx context.Context) {
	batch := make([]*enqueueReq, 0, enqueueBatchMax)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case r := <-s.enq:
			batch = append(batch, r)
		}
	more:
		for len(batch) < enqueueBatchMax {
			select {
			case r := <-s.enq:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(ctx, batch)
	}
}

// commit stores the jobs of batch whose callers still wait, in one script
// call, and answers each.
func (s *RedisStore) commit(ctx context.Context, batch []*enqueueReq) {
	live := batch[:0]
	var deadline time.Time
	for _, r := range batch {
		if r.ctx.Err() != nil || !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue
		}
		live = append(live, r)
		if d, ok := r.ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
	}
	if len(live) == 0 {
		return
	}
	// The call ends at the earliest of its callers' deadlines (and when
	// the store closes), so that, as when each job went alone, no job is
	// sent after its caller gave up on it: that caller may have stored it
	// elsewhere (FallbackStore keeps it locally).
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	args := make([]any, 0, len(live)*enqueueArgs)
	for _, r := range live {
		args = append(args, r.args[:]...)
	}
	var res any
	var err error
	if s.opts.WaitReplicas > 0 {
		res, err = s.enqueueWait(ctx, args)
	} else {
		res, err = s.run(ctx, scriptEnqueue, args...)
	}
	replies, created, perr := parseEnqueueReply(res, len(live))
	// The call failed because the batch's deadline passed. go-redis sets
	// the connection's read deadline from the context's, so its i/o
	// timeout can come a moment before the context itself reports
	// DeadlineExceeded: the clock decides, not ctx.Err alone.
	expired := res == nil && err != nil && (ctx.Err() != nil || (!deadline.IsZero() && !time.Now().Before(deadline)))
	cause := ctx.Err()
	if expired && cause == nil {
		cause = context.DeadlineExceeded
	}
	for i, r := range live {
		out := enqueueRes{}
		switch {
		case expired:
			if d, ok := r.ctx.Deadline(); ok && !d.After(deadline) {
				// Its own deadline passed: it answers itself with its
				// context's error.
				continue
			}
			out.err = fmt.Errorf("outbox: enqueue: sent with a job whose deadline came first: %w: %w", cause, err)
		case res == nil && err != nil:
			out.err = fmt.Errorf("outbox: enqueue: %w", err)
		case perr != nil:
			out.err = fmt.Errorf("outbox: enqueue: %w", perr)
		default:
			out.created = replies[i].created
			if out.created {
				out.job = newRedisJob(r.job, replies[i].id, created)
			} else {
				out.job = replies[i].existing
			}
			if err != nil {
				out.err = fmt.Errorf("outbox: enqueue %s: %w", out.job.ID, err)
			}
		}
		r.done <- out
	}
}

// newRedisJob is the job scriptEnqueue stored for j, as decodeRedisJob
// would read it back, without reading it back.
func newRedisJob(j Job, id string, created time.Time) Job {
	out := Job{
		ID:             id,
		Kind:           j.Kind,
		Dependency:     j.Dependency,
		InteractionID:  j.InteractionID,
		IdempotencyKey: j.IdempotencyKey,
		State:          Pending,
		NextAttemptAt:  created,
		CreatedAt:      created,
		UpdatedAt:      created,
		Origin:         j.Origin,
	}
	if len(j.Payload) > 0 {
		out.Payload = append([]byte(nil), j.Payload...)
	}
	if !j.NextAttemptAt.IsZero() {
		out.NextAttemptAt = time.Unix(0, max(j.NextAttemptAt.UnixNano(), 0)).UTC()
	}
	return out
}

// enqueueReply is scriptEnqueue's answer for one job.
type enqueueReply struct {
	created  bool
	id       string
	existing Job // when !created: the job that holds the idempotency key
}

// parseEnqueueReply parses {created_ns, {1, id} | {0, reply}, ...}.
func parseEnqueueReply(v any, n int) ([]enqueueReply, time.Time, error) {
	r, ok := v.([]any)
	if !ok || len(r) != n+1 {
		return nil, time.Time{}, fmt.Errorf("unexpected reply %v", v)
	}
	ns, _ := r[0].(string)
	created, err := parseNS(ns)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("unexpected reply time %q: %w", ns, err)
	}
	out := make([]enqueueReply, n)
	for i, it := range r[1:] {
		e, _ := it.([]any)
		if len(e) != 2 {
			return nil, time.Time{}, fmt.Errorf("unexpected reply %v", it)
		}
		if e[0] == int64(1) {
			out[i].created = true
			out[i].id, _ = e[1].(string)
			continue
		}
		c, err := decodeReply(e[1])
		if err != nil {
			return nil, time.Time{}, err
		}
		out[i].existing = c.Job
	}
	return out, created, nil
}

// enqueueWait runs the enqueue script and WAIT on one connection (WAIT
// counts the writes of its own connection). A reply with an error wrapping
// ErrNotReplicated means the jobs are committed on the primary.
func (s *RedisStore) enqueueWait(ctx context.Context, args []any) (any, error) {
	exec := func(eval bool) (*redis.Cmd, *redis.Cmd, error) {
		pipe := s.rdb.Pipeline()
		var cmd *redis.Cmd
		if eval {
			cmd = scriptEnqueue.Eval(ctx, pipe, []string{s.p}, args...)
		} else {
			cmd = scriptEnqueue.EvalSha(ctx, pipe, []string{s.p}, args...)
		}
		wait := pipe.Do(ctx, "WAIT", s.opts.WaitReplicas, s.opts.WaitTimeout.Milliseconds())
		_, err := pipe.Exec(ctx)
		return cmd, wait, err
	}
	cmd, wait, err := exec(false)
	if err != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd, wait, err = exec(true)
	}
	if cmd.Err() != nil {
		return nil, cmd.Err()
	}
	if err != nil {
		return cmd.Val(), fmt.Errorf("%w: wait: %v", ErrNotReplicated, err)
	}
	if n, _ := wait.Int64(); n < int64(s.opts.WaitReplicas) {
		return cmd.Val(), fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, n, s.opts.WaitReplicas, s.opts.WaitTimeout)
	}
	return cmd.Val(), nil
}
