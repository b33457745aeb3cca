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
	// MaxBatchSize is how many concurrent writes share one commit (one
	// fsync) at most. Set it near the expected number of concurrent
	// producers: a batch that never fills waits MaxBatchDelay. Default 64.
	MaxBatchSize int
	// MaxBatchDelay is the longest a write waits for others to join its
	// commit. Default 2ms.
	MaxBatchDelay time.Duration
	// Now is the clock for CreatedAt, UpdatedAt and ids. Default time.Now.
	Now func() time.Time
	// Registerer, when set, receives holdline_outbox_batch_size.
	Registerer prometheus.Registerer
}

// BoltStore is the embedded Store: one bbolt file in the data directory.
// It is safe for concurrent use by one process; a second process gets
// ErrLocked from OpenBolt.
type BoltStore struct {
	db   *bolt.DB
	now  func() time.Time
	reg  prometheus.Registerer
	hist prometheus.Histogram

	idMu    sync.Mutex
	entropy io.Reader
	lastID  time.Time

	// cur counts the writes joined in the open write transaction. It is
	// only touched inside write transactions, which bbolt serializes.
	cur            *batchCount
	commits, calls atomic.Uint64
	// writers counts batch callers in progress.
	writers atomic.Int64
}

type batchCount struct {
	tx *bolt.Tx
	n  int
}

var _ Store = (*BoltStore)(nil)

// OpenBolt opens or creates the store at path (the directory must exist).
// It returns ErrLocked if the file stays locked for opts.LockTimeout.
func OpenBolt(path string, opts BoltOptions) (*BoltStore, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 64
	}
	if opts.MaxBatchDelay <= 0 {
		opts.MaxBatchDelay = 2 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	db.MaxBatchSize, db.MaxBatchDelay = opts.MaxBatchSize, opts.MaxBatchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketJobs, bucketIdempotency, bucketInteractions, bucketStates, bucketReady, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v != nil {
			if got := binary.BigEndian.Uint64(v); got != schemaVersion {
				return fmt.Errorf("schema version %d, this build reads %d", got, schemaVersion)
			}
			return nil
		}
		return meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, schemaVersion))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	s := &BoltStore{
		db:      db,
		now:     opts.Now,
		entropy: ulid.Monotonic(rand.Reader, 0),
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
	return s, nil
}

// Close closes the file and unregisters the metrics. Calls in progress
// finish first.
func (s *BoltStore) Close() error {
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

// BatchStats returns how many write transactions committed through
// DB.Batch and how many writes they carried; calls/commits is the
// achieved group-commit size.
func (s *BoltStore) BatchStats() (commits, calls uint64) {
	return s.commits.Load(), s.calls.Load()
}

// batch runs fn through DB.Batch (group commit), or DB.Update when no
// other write is in progress. fn may run more than once
// and must be idempotent: it resets whatever it reports to its caller.
func (s *BoltStore) batch(ctx context.Context, fn func(b btx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// A lone writer commits at once: joining a batch would make it wait
	// MaxBatchDelay for company that is not coming.
	write := s.db.Batch
	if s.writers.Add(1) == 1 {
		write = s.db.Update
	}
	defer s.writers.Add(-1)
	err := write(func(tx *bolt.Tx) error {
		if s.cur == nil || s.cur.tx != tx {
			c := &batchCount{tx: tx}
			s.cur = c
			// Commit handlers run in the goroutine that ran the batch,
			// after the fsync.
			tx.OnCommit(func() {
				s.commits.Add(1)
				s.calls.Add(uint64(c.n))
				s.hist.Observe(float64(c.n))
			})
		}
		s.cur.n++
		return fn(buckets(tx))
	})
	return mapErr(err)
}

// errNoChange rolls back an update that changed nothing, which saves the
// commit's fsync (an idle poll would otherwise cost one).
var errNoChange = errors.New("no change")

func (s *BoltStore) update(ctx context.Context, fn func(b btx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error { return fn(buckets(tx)) })
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
	err := s.batch(ctx, func(b btx) error {
		out, created = Job{}, false
		if j.IdempotencyKey != "" {
			if id := b.idem.Get([]byte(j.IdempotencyKey)); id != nil {
				old, err := b.get(string(id))
				if err != nil {
					return err
				}
				out = *old
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
		if err := b.refresh(ikey(&n), false); err != nil {
			return err
		}
		out, created = n, true
		return nil
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("outbox: enqueue: %w", err)
	}
	return out, created, nil
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
