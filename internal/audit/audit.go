// Package audit is holdline's audit log: every admin mutation (breaker,
// failover, fault injection, replay, purge) and every breaker state change
// is appended as one JSON line to audit.log in the data dir, fsynced before
// the action is answered (group commit: one writer, one fsync for every
// entry waiting), and rotated by size. It is how an operator shows later
// what happened during an incident, and who did it. Offline CLI mutations
// (outbox replay/purge --data-dir) are recorded too, with the OS user as
// the actor.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Entry is one audit record.
type Entry struct {
	Time time.Time `json:"time"`
	// Actor is the admin token's name, "system" for automatic events
	// (a breaker opening by itself), or "os:<user>" for an offline CLI
	// change (outbox replay/purge --data-dir).
	Actor string `json:"actor"`
	// Action is what happened: breaker.set, endpoint.set, fault.add,
	// fault.delete, outbox.replay, outbox.purge, breaker.state.
	Action string `json:"action"`
	// Target is what it happened to: a dependency, a job id, a fault id.
	Target string `json:"target"`
	// Reason is the operator's stated reason.
	Reason string `json:"reason,omitempty"`
	// Result is ok, or the error.
	Result  string         `json:"result"`
	Details map[string]any `json:"details,omitempty"`
}

// Options tune a Log.
type Options struct {
	// MaxBytes rotates audit.log past this size. Default 10 MiB.
	MaxBytes int64
	// Keep is how many rotated files are kept. Default 10.
	Keep int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives write failures (an audit entry that could not be
	// written is also logged, so it is never silently lost).
	Logger *slog.Logger

	// sync makes a batch durable; tests hold it to see batches form.
	// Default (*os.File).Sync.
	sync func(*os.File) error
}

// Log appends entries to dir/audit.log. It is safe for concurrent use.
//
// Writes are group-committed: Append queues its entry and waits; one
// writer goroutine writes every entry waiting, fsyncs once, and only then
// answers each of them. An audited request still answers only after its
// entry is durable, but N concurrent mutations cost one fsync, not N, and
// no request goroutine does file I/O.
type Log struct {
	dir  string
	opts Options

	// mu guards the queue and closed; the writer swaps the queue out.
	mu      sync.Mutex
	queue   []pending
	closed  bool
	kick    chan struct{} // cap 1: the queue is not empty
	stopped chan struct{} // closed when the writer has exited

	// fileMu is held by the writer while it rotates, and by readers while
	// they list and open the files, so a rotation never moves a file
	// between the two. f and size belong to the writer goroutine.
	fileMu sync.Mutex
	f      *os.File
	size   int64
}

// pending is one queued entry and where to answer it.
type pending struct {
	line []byte
	done chan error
}

const name = "audit.log"

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: closed")

// Open opens (creating) dir/audit.log for appending and starts its writer.
func Open(dir string, opts Options) (*Log, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	if opts.Keep <= 0 {
		opts.Keep = 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.sync == nil {
		opts.sync = (*os.File).Sync
	}
	l := &Log{dir: dir, opts: opts, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	if err := l.open(); err != nil {
		return nil, err
	}
	go l.writer()
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(filepath.Join(l.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: stat: %w", err)
	}
	l.f, l.size = f, st.Size()
	// A crash mid-write leaves a torn last line: end it, so the next entry
	// starts on a line of its own and only the torn one is lost.
	if st.Size() > 0 {
		last := make([]byte, 1)
		if r, err := os.Open(filepath.Join(l.dir, name)); err == nil {
			_, err = r.ReadAt(last, st.Size()-1)
			r.Close()
			if err == nil && last[0] != '\n' {
				if _, err := f.Write([]byte{'\n'}); err == nil {
					l.size++
				}
			}
		}
	}
	return nil
}

// Append writes e (Time defaults to now) and returns once it is fsynced,
// together with every other entry waiting at that moment. It returns
// ErrClosed after Close.
func (l *Log) Append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = l.opts.Now()
	}
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode: %w", err)
	}
	p := pending{line: append(b, '\n'), done: make(chan error, 1)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.queue = append(l.queue, p)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default: // the writer is already told
	}
	return <-p.done
}

// Record appends an entry for an admin action, taking the actor from the
// caller (see gateway.Actor). A failed write is logged with the entry, so
// the record survives in the process log at least.
func (l *Log) Record(ctx context.Context, actor, action, target, reason, result string, details map[string]any) {
	e := Entry{Actor: actor, Action: action, Target: target, Reason: reason, Result: result, Details: details}
	if err := l.Append(e); err != nil {
		l.opts.Logger.Error("audit entry not written", "error", err, "actor", actor, "action", action, "target", target, "reason", reason)
	}
}

// writer commits the queue in batches until Close, then commits what is
// left and exits.
func (l *Log) writer() {
	defer close(l.stopped)
	for range l.kick {
		l.mu.Lock()
		batch := l.queue
		l.queue = nil
		closed := l.closed
		l.mu.Unlock()
		if len(batch) > 0 {
			err := l.commit(batch)
			for _, p := range batch {
				p.done <- err
			}
		}
		if closed {
			return
		}
	}
}

// commit writes batch, rotating as needed, and fsyncs once. One error
// fails the whole batch: none of its entries is known to be durable.
func (l *Log) commit(batch []pending) error {
	for _, p := range batch {
		if l.size+int64(len(p.line)) > l.opts.MaxBytes && l.size > 0 {
			// The entries written so far go to the rotated file: make
			// them durable before it is closed.
			if err := l.opts.sync(l.f); err != nil {
				return fmt.Errorf("audit: fsync: %w", err)
			}
			if err := l.rotate(); err != nil {
				return err
			}
		}
		if l.f == nil {
			return ErrClosed
		}
		if _, err := l.f.Write(p.line); err != nil {
			return fmt.Errorf("audit: write: %w", err)
		}
		l.size += int64(len(p.line))
	}
	if err := l.opts.sync(l.f); err != nil {
		return fmt.Errorf("audit: fsync: %w", err)
	}
	return nil
}

// rotate renames audit.log to audit.log.<unix nanos> and prunes old ones.
func (l *Log) rotate() error {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	l.f = nil
	dst := filepath.Join(l.dir, fmt.Sprintf("%s.%d", name, l.opts.Now().UnixNano()))
	if err := os.Rename(filepath.Join(l.dir, name), dst); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(l.dir, name+".*"))
	sort.Strings(old)
	for len(old) > l.opts.Keep {
		_ = os.Remove(old[0])
		old = old[1:]
	}
	return l.open()
}

// Close commits the entries already queued, stops the writer and closes
// the file. Later Appends return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.stopped
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	<-l.stopped
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
