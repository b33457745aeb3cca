package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// BoltOptions tunes OpenBolt. The zero value is ready to use.
type BoltOptions struct {
	// LockTimeout is how long OpenBolt waits for another holder of the
	// file to let go before returning ErrLocked. Default 1s.
	LockTimeout time.Duration
	// MaxBatchSize is how many queued writes one commit (one fsync pair)
	// carries at most; the rest go in the next. Writes never wait for
	// company: a commit starts as soon as the previous one is done, with
	// whatever was queued meanwhile (see BoltStore). Default 1024.
	MaxBatchSize int
	// Now is the clock for CreatedAt, UpdatedAt and ids. Default time.Now.
	Now func() time.Time
	// Registerer, when set, receives holdline_outbox_batch_size.
	Registerer prometheus.Registerer
}

// BoltStore is the embedded Store: one bbolt file in the data directory.
// It is safe for concurrent use by one process; a second process gets
// ErrLocked from OpenBolt.
//
// Enqueue, Complete and Fail go through a group commit: one goroutine
// (commitLoop) takes every write queued so far, runs them in order in one
// write transaction and commits it (bbolt's data fsync, then its meta
// fsync); only then does each caller return. Writes queued while a commit
// is on disk make up the next one, so the disk never idles while writes
// wait and no write waits for a timer.
type BoltStore struct {
	db       *bolt.DB
	now      func() time.Time
	reg      prometheus.Registerer
	hist     prometheus.Histogram
	maxBatch int

	idMu    sync.Mutex
	entropy io.Reader
	lastID  time.Time

	// The group commit's queue, in arrival order.
	qmu      sync.Mutex
	wake     chan struct{} // a token after a write joins an empty queue, and on Close
	queue    []*write
	closing  bool
	loopDone chan struct{}

	commits, calls atomic.Uint64
}

// write is one queued group-commit write. done receives its outcome after
// the commit that carries it (or its failure).
type write struct {
	fn   func(b btx) error
	done chan error
}

var _ Store = (*BoltStore)(nil)

// OpenBolt opens or creates the store at path (the directory must exist).
// It returns ErrLocked if the file stays locked for opts.LockTimeout.
func OpenBolt(path string, opts BoltOptions) (*BoltStore, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 1024
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The free-page list is derived data: bbolt rebuilds it from the
		// pages at open when it was not written. Not writing it saves a
		// page write per commit; a commit still fsyncs its data pages and
		// then its meta page, so durability is unchanged. Open scans the
		// file instead (the outbox stays small: done jobs are purged).
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketJobs, bucketIdempotency, bucketInteractions, bucketStates, bucketReady, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v != nil {
			got := binary.BigEndian.Uint64(v)
			if got < minSchemaVersion || got > schemaVersion {
				return fmt.Errorf("schema version %d, this build reads %d to %d", got, minSchemaVersion, schemaVersion)
			}
			if got == schemaVersion {
				return nil
			}
		}
		return meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, schemaVersion))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	s := &BoltStore{
		db:       db,
		now:      opts.Now,
		maxBatch: opts.MaxBatchSize,
		entropy:  ulid.Monotonic(rand.Reader, 0),
		wake:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
		hist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "holdline_outbox_batch_size",
			Help:    "Writes (enqueues, completions, failures) committed together in one bbolt transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.hist); err != nil {
			db.Close()
			return nil, fmt.Errorf("outbox: register metrics: %w", err)
		}
		s.reg = opts.Registerer
	}
	go s.commitLoop()
	return s, nil
}

// Close closes the file and unregisters the metrics. Calls in progress
// finish first: writes already queued are committed.
func (s *BoltStore) Close() error {
	s.qmu.Lock()
	s.closing = true
	s.qmu.Unlock()
	s.signal()
	<-s.loopDone
	if s.reg != nil {
		s.reg.Unregister(s.hist)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("outbox: close: %w", err)
	}
	return nil
}

// Path returns the database file's path.
func (s *BoltStore) Path() string { return s.db.Path() }

// BatchStats returns how many group commits the store made and how many
// writes (enqueues, completions, failures) they carried; calls/commits is
// the achieved group-commit size.
func (s *BoltStore) BatchStats() (commits, calls uint64) {
	return s.commits.Load(), s.calls.Load()
}

// batch queues fn for the next group commit and returns once the commit
// that carries it is on disk (or failed). fn may run more than once (a
// commit in which another write failed is run again without it) and must
// be idempotent: it resets whatever it reports to its caller. ctx is
// checked before queueing only: a queued write is never abandoned, so an
// error always means it is not stored.
func (s *BoltStore) batch(ctx context.Context, fn func(b btx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The channel is made here, not pooled: testing/synctest tests run
	// stores inside bubbles, and a channel belongs to its bubble.
	w := &write{fn: fn, done: make(chan error, 1)}
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, w)
	first := len(s.queue) == 1
	s.qmu.Unlock()
	if first {
		s.signal()
	}
	err := <-w.done
	if p, ok := err.(panicked); ok {
		panic(p.reason)
	}
	return err
}

// commitLoop is the group commit: it takes up to maxBatch queued writes
// (all of them, usually), commits them in one transaction and answers
// each, then takes what was queued meanwhile. It ends once Close was
// called and the queue is empty.
func (s *BoltStore) commitLoop() {
	defer close(s.loopDone)
	var batch []*write
	for {
		s.qmu.Lock()
		if len(s.queue) == 0 {
			closing := s.closing
			s.qmu.Unlock()
			if closing {
				return
			}
			// A channel, not a sync.Cond: a goroutine blocked on it is
			// durably blocked for testing/synctest.
			<-s.wake
			continue
		}
		n := min(len(s.queue), s.maxBatch)
		batch = append(batch[:0], s.queue[:n]...)
		rest := copy(s.queue, s.queue[n:])
		clear(s.queue[rest:])
		s.queue = s.queue[:rest]
		s.qmu.Unlock()

		s.commit(batch)
		clear(batch)
	}
}

// signal wakes commitLoop; a token already waiting is enough.
func (s *BoltStore) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// commit runs batch in one write transaction. When one of its writes
// fails, the transaction is rolled back and every write of the batch runs
// again alone, in order, each with its own outcome (a write's error is
// never another's).
func (s *BoltStore) commit(batch []*write) {
	failed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := buckets(tx)
		for _, w := range batch {
			if err := safeCall(w.fn, b); err != nil {
				failed = true
				return err
			}
		}
		return b.flush()
	})
	if failed && len(batch) > 1 {
		for _, w := range batch {
			s.commit([]*write{w})
		}
		return
	}
	if err == nil {
		s.commits.Add(1)
		s.calls.Add(uint64(len(batch)))
		s.hist.Observe(float64(len(batch)))
	}
	err = mapErr(err)
	for _, w := range batch {
		w.done <- err
	}
}

// panicked carries a write's panic from the commit loop to its caller.
type panicked struct{ reason any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.reason) }

func safeCall(fn func(b btx) error, b btx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return fn(b)
}

// errNoChange rolls back an update that changed nothing, which saves the
// commit's fsync (an idle poll would otherwise cost one).
var errNoChange = errors.New("no change")

func (s *BoltStore) update(ctx context.Context, fn func(b btx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := buckets(tx)
		if err := fn(b); err != nil {
			return err
		}
		return b.flush()
	})
	if err == errNoChange {
		return nil
	}
	return mapErr(err)
}

func (s *BoltStore) view(ctx context.Context, fn func(b btx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(s.db.View(func(tx *bolt.Tx) error { return fn(buckets(tx)) }))
}

func mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// clock returns the store's current time without a monotonic reading,
// in UTC, so that it survives a JSON round trip unchanged.
func (s *BoltStore) clock() time.Time { return s.now().UTC().Round(0) }

// newID returns a ULID later than every id issued before, even if the
// clock steps back, so that ID order is commit order.
func (s *BoltStore) newID(now time.Time) (string, error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if now.Before(s.lastID) {
		now = s.lastID
	}
	s.lastID = now
	id, err := ulid.New(ulid.Timestamp(now), s.entropy)
	if err != nil {
		return "", fmt.Errorf("outbox: new id: %w", err)
	}
	return id.String(), nil
}

// Enqueue implements Store. It shares an fsync with concurrent calls.
func (s *BoltStore) Enqueue(ctx context.Context, j Job) (Job, bool, error) {
	if err := validateJob(j); err != nil {
		return Job{}, false, err
	}
	var out Job
	var created bool
	err := s.batch(ctx, s.enqueueWrite(j, &out, &created))
	if err != nil {
		return Job{}, false, fmt.Errorf("outbox: enqueue: %w", err)
	}
	return out, created, nil
}

// enqueueWrite is Enqueue's write: it stores j as a new job in *out and
// sets *created, or loads the job already holding j's idempotency key.
func (s *BoltStore) enqueueWrite(j Job, out *Job, created *bool) func(b btx) error {
	return func(b btx) error {
		*out, *created = Job{}, false
		if j.IdempotencyKey != "" {
			if id := b.idem.Get([]byte(j.IdempotencyKey)); id != nil {
				old, err := b.get(string(id))
				if err != nil {
					return err
				}
				*out = *old
				return nil
			}
		}
		now := s.clock()
		id, err := s.newID(now)
		if err != nil {
			return err
		}
		n := Job{
			ID:             id,
			Kind:           j.Kind,
			Dependency:     j.Dependency,
			InteractionID:  j.InteractionID,
			IdempotencyKey: j.IdempotencyKey,
			Payload:        bytes.Clone(j.Payload),
			Origin:         j.Origin,
			State:          Pending,
			NextAttemptAt:  now,
			CreatedAt:      now,
			UpdatedAt:      now,
		}
		if !j.NextAttemptAt.IsZero() {
			n.NextAttemptAt = j.NextAttemptAt.UTC().Round(0)
		}
		if err := b.put(nil, &n); err != nil {
			return err
		}
		if err := b.enqueued(&n); err != nil {
			return err
		}
		*out, *created = n, true
		return nil
	}
}

// Get implements Store.
func (s *BoltStore) Get(ctx context.Context, id string) (Job, error) {
	var out Job
	err := s.view(ctx, func(b btx) error {
		j, err := b.get(id)
		if err != nil {
			return err
		}
		out = *j
		return nil
	})
	if err != nil {
		return Job{}, fmt.Errorf("outbox: get: %w", err)
	}
	return out, nil
}

// List implements Store.
func (s *BoltStore) List(ctx context.Context, f Filter) ([]Job, string, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, "", fmt.Errorf("outbox: list: %w: state %q", ErrInvalid, f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var jobs []Job
	next := ""
	err := s.view(ctx, func(b btx) error {
		// Pick the narrowest index; each is in id order after its prefix.
		var bucket *bolt.Bucket
		var prefix []byte
		switch {
		case f.Interaction != "":
			bucket, prefix = b.inter, interactionPrefix("i"+f.Interaction)
		case f.State != "":
			bucket, prefix = b.states, []byte{stateByte(f.State)}
		default:
			bucket, prefix = b.jobs, nil
		}
		start := prefix
		if !f.Since.IsZero() {
			var u ulid.ULID
			if err := u.SetTime(ulid.Timestamp(f.Since)); err == nil {
				start = append(slices.Clone(prefix), u.String()...)
			}
		}
		if f.Cursor != "" && string(start) < string(prefix)+f.Cursor {
			start = append(slices.Clone(prefix), f.Cursor...)
		}
		c := bucket.Cursor()
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			id := string(k[len(prefix):])
			if id == f.Cursor {
				continue
			}
			var j *Job
			var err error
			if bucket == b.jobs {
				j, err = decodeJob(v)
			} else {
				j, err = b.get(id)
			}
			if err != nil {
				return err
			}
			if !f.match(j) {
				continue
			}
			if len(jobs) == limit {
				next = jobs[len(jobs)-1].ID
				return nil
			}
			jobs = append(jobs, *j)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("outbox: list: %w", err)
	}
	return jobs, next, nil
}

func (f Filter) match(j *Job) bool {
	return (f.State == "" || j.State == f.State) &&
		(f.Kind == "" || j.Kind == f.Kind) &&
		(f.Dependency == "" || j.Dependency == f.Dependency) &&
		(f.Interaction == "" || j.InteractionID == f.Interaction) &&
		(f.Since.IsZero() || !j.CreatedAt.Before(f.Since))
}

// Interaction implements Store.
func (s *BoltStore) Interaction(ctx context.Context, interactionID string) ([]Job, error) {
	if interactionID == "" {
		return nil, nil
	}
	var jobs []Job
	err := s.view(ctx, func(b btx) error {
		prefix := interactionPrefix("i" + interactionID)
		c := b.inter.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			j, err := b.get(string(k[len(prefix):]))
			if err != nil {
				return err
			}
			jobs = append(jobs, *j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: interaction: %w", err)
	}
	return jobs, nil
}

// Claim implements Store. It runs in its own write transaction.
func (s *BoltStore) Claim(ctx context.Context, now time.Time, max int, paused func(string) bool) ([]Job, error) {
	if max <= 0 {
		return nil, nil
	}
	now = now.UTC().Round(0)
	due := binary.BigEndian.AppendUint64(nil, timeKey(now))
	var out []Job
	err := s.update(ctx, func(b btx) error {
		out = nil
		type cand struct {
			at []byte // due time + id, comparable across dependencies
			id string
		}
		var cands []cand
		c := b.ready.Cursor()
		k, _ := c.First()
		for k != nil {
			sep := bytes.IndexByte(k, 0)
			dep := k[:sep]
			prefix := k[:sep+1]
			if paused == nil || !paused(string(dep)) {
				n := 0
				for ; k != nil && bytes.HasPrefix(k, prefix) && n < max; k, _ = c.Next() {
					rest := k[len(prefix):]
					if bytes.Compare(rest[:8], due) > 0 {
						break
					}
					cands = append(cands, cand{at: slices.Clone(rest), id: string(rest[8:])})
					n++
				}
			}
			k, _ = c.Seek(append(slices.Clone(dep), 1)) // the next dependency
		}
		if len(cands) == 0 {
			return errNoChange
		}
		slices.SortFunc(cands, func(a, b cand) int { return bytes.Compare(a.at, b.at) })
		for _, cd := range cands[:min(len(cands), max)] {
			old, err := b.get(cd.id)
			if err != nil {
				return err
			}
			j := *old
			j.State, j.UpdatedAt = Inflight, now
			if err := b.put(old, &j); err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	return out, nil
}

// finish applies an outcome to an inflight job in a group commit.
func (s *BoltStore) finish(ctx context.Context, id string, apply func(j *Job, now time.Time)) error {
	// A refusal is reported beside the batch, not as its error: an error
	// would roll back every write that joined this commit and rerun them.
	var refused error
	err := s.batch(ctx, func(b btx) error {
		refused = nil
		old, err := b.get(id)
		if errors.Is(err, ErrNotFound) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		if old.State != Inflight {
			refused = fmt.Errorf("%w: %s is %s", ErrNotInflight, id, old.State)
			return nil
		}
		j := *old
		apply(&j, s.clock())
		if err := b.put(old, &j); err != nil {
			return err
		}
		return b.refresh(ikey(&j), false)
	})
	if err != nil {
		return err
	}
	return refused
}

// Complete implements Store. It shares an fsync with concurrent calls.
func (s *BoltStore) Complete(ctx context.Context, id string, result json.RawMessage) error {
	if len(result) > 0 && !json.Valid(result) {
		return fmt.Errorf("outbox: complete: %w: result is not valid JSON", ErrInvalid)
	}
	err := s.finish(ctx, id, func(j *Job, now time.Time) {
		j.State, j.UpdatedAt, j.Result, j.LastError = Done, now, bytes.Clone(result), ""
		j.Attempts++
	})
	if err != nil {
		return fmt.Errorf("outbox: complete: %w", err)
	}
	return nil
}

// Fail implements Store. It shares an fsync with concurrent calls.
func (s *BoltStore) Fail(ctx context.Context, id string, f Failure) error {
	err := s.finish(ctx, id, func(j *Job, now time.Time) {
		j.UpdatedAt, j.LastError = now, truncate(f.Err, maxLastErrorLen)
		if !f.Uncounted {
			j.Attempts++
			if j.FirstFailedAt.IsZero() {
				j.FirstFailedAt = now
			}
		}
		if f.Dead {
			j.State = Dead
			return
		}
		j.State, j.NextAttemptAt = Pending, now
		if f.Held {
			j.State = Held
		}
		if !f.RetryAt.IsZero() {
			j.NextAttemptAt = f.RetryAt.UTC().Round(0)
		}
	})
	if err != nil {
		return fmt.Errorf("outbox: fail: %w", err)
	}
	return nil
}

// Replay implements Store.
func (s *BoltStore) Replay(ctx context.Context, id string) (Job, error) {
	var out Job
	err := s.update(ctx, func(b btx) error {
		old, err := b.get(id)
		if err != nil {
			return err
		}
		if old.State == Inflight {
			return fmt.Errorf("%w: %s", ErrInflight, id)
		}
		now := s.clock()
		j := *old
		j.State, j.NextAttemptAt, j.UpdatedAt = Pending, now, now
		j.Attempts, j.FirstFailedAt = 0, time.Time{}
		if err := b.put(old, &j); err != nil {
			return err
		}
		out = j
		return b.refresh(ikey(&j), true)
	})
	if err != nil {
		return Job{}, fmt.Errorf("outbox: replay: %w", err)
	}
	return out, nil
}

// purgeChunk bounds the jobs one Purge transaction deletes, so a large
// sweep does not hold the writer lock for long.
const purgeChunk = 1000

// Purge implements Store. It deletes in transactions of up to 1000 jobs.
func (s *BoltStore) Purge(ctx context.Context, state State, olderThan time.Time) (int, error) {
	if state != Done && state != Dead {
		return 0, fmt.Errorf("outbox: purge: %w: state %q (want done or dead)", ErrInvalid, state)
	}
	prefix := []byte{stateByte(state)}
	after := prefix // resume point: retained jobs are not scanned twice
	total := 0
	for {
		deleted, more := 0, false
		err := s.update(ctx, func(b btx) error {
			deleted, more = 0, false
			var victims []*Job
			c := b.states.Cursor()
			k, _ := c.Seek(after)
			if bytes.Equal(k, after) && len(after) > len(prefix) {
				k, _ = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if len(victims) == purgeChunk {
					more = true
					break
				}
				after = slices.Clone(k)
				j, err := b.get(string(k[1:]))
				if err != nil {
					return err
				}
				if j.UpdatedAt.Before(olderThan) {
					victims = append(victims, j)
				}
			}
			for _, j := range victims {
				if err := b.del(j); err != nil {
					return err
				}
				if state == Dead {
					if err := b.refresh(ikey(j), false); err != nil {
						return err
					}
				}
			}
			deleted = len(victims)
			if deleted == 0 {
				return errNoChange
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("outbox: purge: %w", err)
		}
		total += deleted
		if !more {
			return total, nil
		}
	}
}

// Stats implements Store. Counts are kept in the meta bucket; Blocked
// walks the interactions of dead jobs.
func (s *BoltStore) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.view(ctx, func(b btx) error {
		c := b.counts()
		st = Stats{
			Pending:  int(c[stateIndex(Pending)]),
			Inflight: int(c[stateIndex(Inflight)]),
			Done:     int(c[stateIndex(Done)]),
			Dead:     int(c[stateIndex(Dead)]),
			Held:     int(c[stateIndex(Held)]),
		}
		if k, _ := b.states.Cursor().Seek([]byte{stateByte(Pending)}); k != nil && k[0] == stateByte(Pending) {
			j, err := b.get(string(k[1:]))
			if err != nil {
				return err
			}
			st.OldestPending = j.CreatedAt
		}
		seen := map[string]bool{}
		dc := b.states.Cursor()
		for k, _ := dc.Seek([]byte{stateByte(Dead)}); k != nil && k[0] == stateByte(Dead); k, _ = dc.Next() {
			j, err := b.get(string(k[1:]))
			if err != nil {
				return err
			}
			ik := ikey(j)
			if seen[ik] {
				continue
			}
			seen[ik] = true
			prefix := interactionPrefix(ik)
			held := false
			ic := b.inter.Cursor()
			for k, v := ic.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = ic.Next() {
				switch v[0] {
				case stateByte(Dead):
					held = true
				case stateByte(Pending):
					if held {
						st.Blocked++
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("outbox: stats: %w", err)
	}
	return st, nil
}

// RecoverInflight implements Store. BoltStore is held by one process, so
// every inflight job at open belonged to a worker that is gone.
func (s *BoltStore) RecoverInflight(ctx context.Context) (int, error) {
	n := 0
	err := s.update(ctx, func(b btx) error {
		n = 0
		var stuck []*Job
		prefix := []byte{stateByte(Inflight)}
		c := b.states.Cursor()
		for k, _ := c.Seek(prefix); k != nil && k[0] == prefix[0]; k, _ = c.Next() {
			j, err := b.get(string(k[1:]))
			if err != nil {
				return err
			}
			stuck = append(stuck, j)
		}
		now := s.clock()
		for _, old := range stuck {
			j := *old
			j.State, j.NextAttemptAt, j.UpdatedAt = Pending, now, now
			if err := b.put(old, &j); err != nil {
				return err
			}
			if err := b.refresh(ikey(&j), false); err != nil {
				return err
			}
		}
		n = len(stuck)
		if n == 0 {
			return errNoChange
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: recover inflight: %w", err)
	}
	return n, nil
}
