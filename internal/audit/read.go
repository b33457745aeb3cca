package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// maxLine is the longest entry a reader parses; a longer line (none that
// Append writes) is skipped, never a reason to stop reading.
const maxLine = 1 << 20

// Read returns the entries at or after since, oldest first, at most limit
// (the newest ones when there are more; limit <= 0 means all), across
// rotated files. The lock is held only to open the files, so reading never
// holds up an audited request; a line that cannot be parsed (a torn last
// line after a crash, or one over 1 MiB) is skipped and the reading goes
// on. It fails only when a file cannot be opened or read.
//
// With a limit, the files are read backwards from their ends, newest file
// first, and reading stops once limit entries are found (the status page's
// "last 15 actions" reads a few KiB, however long the history), or at a
// rotated file with nothing at or after since.
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
	if limit > 0 {
		return tail(files, since, limit)
	}
	var out []Entry
	for _, f := range files {
		err := eachLine(f, func(line []byte) {
			if e, ok := parse(line); ok && !e.Time.Before(since) {
				out = append(out, e)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", filepath.Base(f.Name()), err)
		}
	}
	return out, nil
}

// tail reads files (oldest first) from the newest end for the last limit
// entries at or after since.
func tail(files []*os.File, since time.Time, limit int) ([]Entry, error) {
	var out []Entry // newest first
	for i := len(files) - 1; i >= 0 && len(out) < limit; i-- {
		f := files[i]
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", filepath.Base(f.Name()), err)
		}
		found := false
		err = eachLineReverse(f, st.Size(), func(line []byte) bool {
			if e, ok := parse(line); ok && !e.Time.Before(since) {
				out = append(out, e)
				found = true
			}
			return len(out) < limit
		})
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", filepath.Base(f.Name()), err)
		}
		if !found && i < len(files)-1 {
			break // a rotated file with nothing recent: older ones have less
		}
	}
	slices.Reverse(out)
	return out, nil
}

func parse(line []byte) (Entry, bool) {
	var e Entry
	return e, json.Unmarshal(line, &e) == nil
}

// openAll opens the rotated files, oldest first, then the current one,
// under fileMu so that a rotation cannot move a file between listing and
// opening it.
func (l *Log) openAll() ([]*os.File, error) {
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
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

// eachLineReverse calls fn with the lines of the first size bytes of r,
// last line first, until fn returns false. Lines over maxLine bytes and
// empty lines are skipped. It reads 64 KiB at a time from the end.
func eachLineReverse(r io.ReaderAt, size int64, fn func([]byte) bool) error {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	var partial []byte // the end of a line whose start is further back
	long := false      // the line in partial is over maxLine: drop it
	emit := func(line []byte) bool {
		line = bytes.TrimRight(line, "\r")
		if long || len(line) == 0 {
			return true
		}
		return fn(line)
	}
	for pos := size; pos > 0; {
		n := min(int64(chunk), pos)
		pos -= n
		b := buf[:n]
		if _, err := r.ReadAt(b, pos); err != nil && err != io.EOF {
			return err
		}
		end := len(b)
		for {
			i := bytes.LastIndexByte(b[:end], '\n')
			if i < 0 {
				if !long {
					partial = append(slices.Clone(b[:end]), partial...)
					if len(partial) > maxLine {
						long, partial = true, nil
					}
				}
				break
			}
			line := partial
			if !long {
				line = append(slices.Clone(b[i+1:end]), partial...)
			}
			if len(line) > maxLine {
				long = true
			}
			if !emit(line) {
				return nil
			}
			partial, long, end = nil, false, i
		}
	}
	emit(partial)
	return nil
}
