package blob

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Spool holds recordings on local disk while the store is unavailable.
// A spool file is written under a temporary name, fsynced, then linked to
// its final name, so a committed file is always complete; files left
// half-written by a crash are removed by OpenSpool. It is safe for
// concurrent use.
type Spool struct {
	dir string
}

const (
	spoolTemp = ".part"
	spoolDone = ".rec"
)

// OpenSpool creates dir if needed and removes the temporary files a
// previous process left behind (never answered as stored).
func OpenSpool(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: spool: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), spoolTemp) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Spool{dir: dir}, nil
}

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Create starts a spool file for a recording.
func (s *Spool) Create(recordingID string) (*SpoolFile, error) {
	base := filepath.Base(recordingID) + "." + strconv.FormatInt(time.Now().UnixNano(), 36)
	f, err := os.OpenFile(filepath.Join(s.dir, base+spoolTemp), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blob: spool create: %w", diskFull(err))
	}
	return &SpoolFile{s: s, f: f, base: base}, nil
}

// Path resolves a spool path from a job payload to a file inside the
// spool: only the base name counts, so a payload cannot point elsewhere.
func (s *Spool) Path(p string) string { return filepath.Join(s.dir, filepath.Base(p)) }

// Open opens a committed spool file.
func (s *Spool) Open(p string) (*os.File, error) {
	f, err := os.Open(s.Path(p))
	if err != nil {
		return nil, fmt.Errorf("blob: spool open: %w", err)
	}
	return f, nil
}

// Remove deletes a committed spool file; a missing one is not an error.
func (s *Spool) Remove(p string) error {
	if err := os.Remove(s.Path(p)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("blob: spool remove: %w", err)
	}
	return nil
}

// SpoolFile is one recording being spooled. It is not safe for concurrent
// use.
type SpoolFile struct {
	s    *Spool
	f    *os.File
	base string
	n    int64
	done bool
}

// Write appends p. A full disk is ErrSpoolFull.
func (f *SpoolFile) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	f.n += int64(n)
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
}
