package crm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/holdline/holdline/internal/config"
)

// maxSecretFile bounds what is read from a secret file (a token, a
// password, a PEM key).
const maxSecretFile = 64 << 10

// secretValue is one secret: a fixed value from the config, or the
// content of a file (a mounted Kubernetes secret) that is read again when
// it may have changed: on use, at most every poll, and at the next use
// after reload. Reading a file that is missing or empty keeps the last
// good value (a Kubernetes secret update swaps a symlink, and a reader can
// land between the two steps). It is safe for concurrent use.
type secretValue struct {
	path  string // "" for a fixed value
	poll  time.Duration
	now   func() time.Time
	mu    sync.Mutex
	val   []byte
	gen   uint64    // counts changes of val
	read  time.Time // when the file was last read
	stale bool      // reload asked for a read at the next use
}

// newSecretValue returns the fixed value, or the file's content when path
// is set. It reads the file once, so that a missing or empty file is an
// error at start (and in `holdline config validate`).
func newSecretValue(fixed config.Secret, path string, poll time.Duration, now func() time.Time) (*secretValue, error) {
	s := &secretValue{path: path, poll: poll, now: now, val: []byte(fixed.Reveal())}
	if path == "" {
		return s, nil
	}
	v, err := readSecretFile(path)
	if err != nil {
		return nil, err
	}
	s.val, s.read = v, now()
	return s, nil
}

// readSecretFile reads a secret file with its trailing newline (and
// other trailing white space) trimmed. An empty file is an error.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxSecretFile)
	}
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return b, nil
}

// get returns the current value and its generation (which changes with
// the value), reading the file again first when it is due.
func (s *secretValue) get() ([]byte, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" && (s.stale || s.now().Sub(s.read) >= s.poll) {
		s.read, s.stale = s.now(), false
		if v, err := readSecretFile(s.path); err == nil && !bytes.Equal(v, s.val) {
			s.val = v
			s.gen++
		}
	}
	return s.val, s.gen
}

// reload makes the next get read the file.
func (s *secretValue) reload() {
	s.mu.Lock()
	s.stale = true
	s.mu.Unlock()
}

// refresh reads the file now and reports whether the value changed.
func (s *secretValue) refresh() bool {
	if s.path == "" {
		return false
	}
	s.reload()
	s.mu.Lock()
	before := s.gen
	s.mu.Unlock()
	_, after := s.get()
	return after != before
}
