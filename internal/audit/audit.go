// Package audit is holdline's audit log: every admin mutation (breaker,
// failover, fault injection, replay, purge) and every breaker state change
// is appended as one JSON line to audit.log in the data dir, fsynced before
// the action is answered, and rotated by size. It is how an operator shows
// later what happened during an incident, and who did it.
package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// Actor is the admin token's name, or "system" for automatic events
	// (a breaker opening by itself).
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
}

// Log appends entries to dir/audit.log. It is safe for concurrent use.
type Log struct {
	dir  string
	opts Options

	mu   sync.Mutex
	f    *os.File
	size int64
}

const name = "audit.log"

// Open opens (creating) dir/audit.log for appending.
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
	l := &Log{dir: dir, opts: opts}
	if err := l.open(); err != nil {
		return nil, err
	}
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

// Append writes e (Time defaults to now) and fsyncs it.
func (l *Log) Append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = l.opts.Now()
	}
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit: closed")
	}
	if l.size+int64(len(b)) > l.opts.MaxBytes && l.size > 0 {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: fsync: %w", err)
	}
	l.size += int64(len(b))
	return nil
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

// rotate renames audit.log to audit.log.<unix nanos> and prunes old ones.
func (l *Log) rotate() error {
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

// maxLine is the longest entry Read parses; a longer line (none that
// Append writes) is skipped and counted, never a reason to stop reading.
const maxLine = 1 << 20

// Read returns the entries at or after since, oldest first, at most limit
// (the newest ones when there are more), across rotated files. The lock
// is held only to open the files, so reading a long history never holds
// up an audited request; a line that cannot be parsed (a torn last line
// after a crash, or one over 1 MiB) is skipped and the reading goes on.
// It fails only when a file cannot be opened or read.
func (l *Log) Read(since time.Time, limit int) ([]Entry, error) {
	files, err := l.openAll()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var out []Entry
	for _, f := range files {
		err := eachLine(f, func(line []byte) {
			var e Entry
			if json.Unmarshal(line, &e) != nil {
				return
			}
			if !e.Time.Before(since) {
				out = append(out, e)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", filepath.Base(f.Name()), err)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// openAll opens the rotated files, oldest first, then the current one,
// under the lock so that a rotation cannot move a file between listing and
// opening it.
func (l *Log) openAll() ([]*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	paths, _ := filepath.Glob(filepath.Join(l.dir, name+".*"))
	sort.Strings(paths)
	paths = append(paths, filepath.Join(l.dir, name))
	var files []*os.File
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("audit: read: %w", err)
		}
		files = append(files, f)
	}
	return files, nil
}

// eachLine calls fn with every line of r up to maxLine bytes, skipping
// longer ones whole.
func eachLine(r io.Reader, fn func([]byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			line = append(line, chunk...)
			if len(line) > maxLine {
				long, line = true, line[:0]
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == nil || (err == io.EOF && len(line) > 0):
			if !long {
				fn(bytes.TrimRight(line, "\r\n"))
			}
			line, long = line[:0], false
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
