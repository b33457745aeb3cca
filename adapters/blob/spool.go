package blob

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// SpoolOptions bound a Spool. The zero value is unbounded.
type SpoolOptions struct {
	// MaxBytes caps the bytes the spool holds: committed files and files
	// being written. A write past it fails with ErrSpoolFull. 0 is
	// unbounded.
	MaxBytes int64
	// ReserveBytes is the free space a spool write must leave on the
	// spool's filesystem, for whatever shares it (the outbox's database).
	// A write that would leave less fails with ErrSpoolFull. 0 checks
	// nothing.
	ReserveBytes int64
}

// Spool holds recordings on local disk while the store is unavailable.
// A spool file is written under a temporary name, fsynced, then linked to
// its final name, so a committed file is always complete; files left
// half-written by a crash are removed by OpenSpool. Files moved aside by
// MoveAside (into the orphaned subdirectory) are still found by Open,
// Path and Remove. It is safe for concurrent use.
type Spool struct {
	dir  string
	opts SpoolOptions
	used atomic.Int64 // committed bytes plus bytes being written
}

const (
	spoolTemp   = ".part"
	spoolDone   = ".rec"
	spoolAside  = "orphaned"
	statfsEvery = 4 << 20 // bytes written between free-space checks
)

// OpenSpool creates dir if needed, removes the temporary files a previous
// process left behind (never answered as stored) and counts the committed
// files against opts.MaxBytes.
func OpenSpool(dir string, opts SpoolOptions) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: spool: %w", err)
	}
	s := &Spool{dir: dir, opts: opts}
	for _, e := range ents {
		switch {
		case strings.HasSuffix(e.Name(), spoolTemp):
			_ = os.Remove(filepath.Join(dir, e.Name()))
		case strings.HasSuffix(e.Name(), spoolDone):
			if fi, err := e.Info(); err == nil {
				s.used.Add(fi.Size())
			}
		}
	}
	return s, nil
}

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Create starts a spool file for a recording. It fails with ErrSpoolFull
// when the spool is at MaxBytes or the filesystem below ReserveBytes.
func (s *Spool) Create(recordingID string) (*SpoolFile, error) {
	if err := s.room(0); err != nil {
		return nil, fmt.Errorf("blob: spool create: %w", err)
	}
	base := filepath.Base(recordingID) + "." + strconv.FormatInt(time.Now().UnixNano(), 36)
	f, err := os.OpenFile(filepath.Join(s.dir, base+spoolTemp), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blob: spool create: %w", diskFull(err))
	}
	return &SpoolFile{s: s, f: f, base: base}, nil
}

// room reports ErrSpoolFull when the spool is at MaxBytes, n more bytes
// would pass it (they are not counted here) or leave less than
// ReserveBytes free.
func (s *Spool) room(n int64) error {
	if max := s.opts.MaxBytes; max > 0 && (s.used.Load()+n > max || s.used.Load() >= max) {
		return fmt.Errorf("%w: the spool holds %d of recordings.spool_max_bytes %d", ErrSpoolFull, s.used.Load(), max)
	}
	if s.opts.ReserveBytes > 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.dir, &st); err == nil {
			free := int64(st.Bavail) * int64(st.Bsize) // the field types differ per OS
			if free-n < s.opts.ReserveBytes {
				return fmt.Errorf("%w: %d bytes free, recordings.spool_reserve_bytes keeps %d for the outbox", ErrSpoolFull, free, s.opts.ReserveBytes)
			}
		}
	}
	return nil
}

// Path resolves a spool path from a job payload to a file inside the
// spool: only the base name counts, so a payload cannot point elsewhere.
// A file moved aside by MoveAside resolves to its place in the orphaned
// subdirectory.
func (s *Spool) Path(p string) string {
	main := filepath.Join(s.dir, filepath.Base(p))
	if _, err := os.Stat(main); err != nil {
		aside := filepath.Join(s.dir, spoolAside, filepath.Base(p))
		if _, aerr := os.Stat(aside); aerr == nil {
			return aside
		}
	}
	return main
}

// Open opens a committed spool file, wherever it is (see Path).
func (s *Spool) Open(p string) (*os.File, error) {
	f, err := os.Open(s.Path(p))
	if err != nil {
		return nil, fmt.Errorf("blob: spool open: %w", err)
	}
	return f, nil
}

// Remove deletes a committed spool file, wherever it is (see Path); a
// missing one is not an error.
func (s *Spool) Remove(p string) error {
	path := s.Path(p)
	fi, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("blob: spool remove: %w", err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("blob: spool remove: %w", err)
	}
	if filepath.Dir(path) == s.dir {
		s.used.Add(-fi.Size())
	}
	return nil
}

// MoveAside moves a committed spool file into the orphaned subdirectory,
// where it no longer counts against MaxBytes but Open, Path and Remove
// still find it.
func (s *Spool) MoveAside(p string) error {
	from := filepath.Join(s.dir, filepath.Base(p))
	fi, err := os.Stat(from)
	if err != nil {
		return fmt.Errorf("blob: spool move aside: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, spoolAside), 0o700); err != nil {
		return fmt.Errorf("blob: spool move aside: %w", err)
	}
	if err := os.Rename(from, filepath.Join(s.dir, spoolAside, filepath.Base(p))); err != nil {
		return fmt.Errorf("blob: spool move aside: %w", err)
	}
	s.used.Add(-fi.Size())
	return syncDir(s.dir)
}

// SpoolStats describes what a spool holds.
type SpoolStats struct {
	// Files and Bytes count the committed recordings waiting for upload.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Oldest is the modification time of the oldest one, zero when none.
	Oldest time.Time `json:"oldest,omitzero"`
	// Aside counts the files moved aside (orphaned).
	Aside int `json:"aside"`
	// MaxBytes is SpoolOptions.MaxBytes (0: unbounded).
	MaxBytes int64 `json:"max_bytes"`
	// Full says why the spool refuses new recordings now, "" when it
	// takes them.
	Full string `json:"full,omitempty"`
}

// Committed lists the committed spool files (base names), not those
// moved aside.
func (s *Spool) Committed() ([]os.DirEntry, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("blob: spool: %w", err)
	}
	out := ents[:0]
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), spoolDone) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Stats reads the spool directory.
func (s *Spool) Stats() (SpoolStats, error) {
	ents, err := s.Committed()
	if err != nil {
		return SpoolStats{}, err
	}
	st := SpoolStats{MaxBytes: s.opts.MaxBytes}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		st.Files++
		st.Bytes += fi.Size()
		if st.Oldest.IsZero() || fi.ModTime().Before(st.Oldest) {
			st.Oldest = fi.ModTime()
		}
	}
	if aside, err := os.ReadDir(filepath.Join(s.dir, spoolAside)); err == nil {
		st.Aside = len(aside)
	}
	if err := s.room(0); err != nil {
		st.Full = strings.TrimPrefix(err.Error(), ErrSpoolFull.Error()+": ")
	}
	return st, nil
}

// SpoolFile is one recording being spooled. It is not safe for concurrent
// use.
type SpoolFile struct {
	s       *Spool
	f       *os.File
	base    string
	n       int64
	checked int64 // n at the last free-space check
	done    bool
}

// Write appends p. A full disk, MaxBytes or ReserveBytes reached is
// ErrSpoolFull.
func (f *SpoolFile) Write(p []byte) (int, error) {
	if f.s.opts.MaxBytes > 0 {
		if used := f.s.used.Add(int64(len(p))); used > f.s.opts.MaxBytes {
			f.s.used.Add(-int64(len(p)))
			return 0, fmt.Errorf("blob: spool write: %w", f.s.room(int64(len(p))))
		}
	} else {
		f.s.used.Add(int64(len(p)))
	}
	if f.s.opts.ReserveBytes > 0 && f.n+int64(len(p))-f.checked >= statfsEvery {
		f.checked = f.n
		if err := f.s.room(int64(len(p))); err != nil {
			f.s.used.Add(-int64(len(p)))
			return 0, fmt.Errorf("blob: spool write: %w", err)
		}
	}
	n, err := f.f.Write(p)
	f.n += int64(n)
	f.s.used.Add(int64(n - len(p)))
	if err != nil {
		return n, fmt.Errorf("blob: spool write: %w", diskFull(err))
	}
	return n, nil
}

// Size is the number of bytes written so far.
func (f *SpoolFile) Size() int64 { return f.n }

// Commit fsyncs the file, gives it its final name and fsyncs the
// directory, and returns its path. On error nothing is left behind.
func (f *SpoolFile) Commit() (string, error) {
	f.done = true
	tmp := f.f.Name()
	final := filepath.Join(f.s.dir, f.base+spoolDone)
	err := f.f.Sync()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(f.s.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		_ = os.Remove(final)
		f.s.used.Add(-f.n)
		return "", fmt.Errorf("blob: spool commit: %w", diskFull(err))
	}
	return final, nil
}

// Abort removes the file. It does nothing after Commit.
func (f *SpoolFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	_ = f.f.Close()
	_ = os.Remove(f.f.Name())
	f.s.used.Add(-f.n)
}
