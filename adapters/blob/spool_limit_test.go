package blob_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/holdline/holdline/adapters/blob"
)

// TestSpoolMaxBytes: the spool refuses bytes past MaxBytes, counting
// files being written and committed ones, says so in Stats, and takes
// recordings again once a file is removed.
func TestSpoolMaxBytes(t *testing.T) {
	sp, err := blob.OpenSpool(t.TempDir(), blob.SpoolOptions{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	a, err := sp.Create("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(bytes.Repeat([]byte("a"), 60)); err != nil {
		t.Fatalf("Write within MaxBytes: %v", err)
	}
	b, err := sp.Create("b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(bytes.Repeat([]byte("b"), 60)); !errors.Is(err, blob.ErrSpoolFull) {
		t.Fatalf("Write past MaxBytes with another file being written = %v, want ErrSpoolFull", err)
	}
	b.Abort()
	path, err := a.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := sp.Create("c"); err != nil {
		t.Fatalf("Create below MaxBytes: %v", err)
	} else {
		c.Abort()
	}
	c, _ := sp.Create("d")
	if _, err := c.Write(bytes.Repeat([]byte("d"), 41)); !errors.Is(err, blob.ErrSpoolFull) {
		t.Fatalf("Write past MaxBytes with a committed file = %v, want ErrSpoolFull", err)
	}
	c.Abort()
	full := bytes.Repeat([]byte("e"), 40)
	e, _ := sp.Create("e")
	if _, err := e.Write(full); err != nil {
		t.Fatalf("Write up to MaxBytes: %v", err)
	}
	if _, err := e.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := sp.Stats()
	if err != nil || st.Files != 2 || st.Bytes != 100 || st.Full == "" {
		t.Fatalf("Stats at MaxBytes = %+v, %v; want 2 files, 100 bytes, full with a reason", st, err)
	}
	if _, err := sp.Create("f"); !errors.Is(err, blob.ErrSpoolFull) {
		t.Fatalf("Create at MaxBytes = %v, want ErrSpoolFull", err)
	}
	if err := sp.Remove(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := sp.Stats(); st.Full != "" || st.Bytes != 40 {
		t.Fatalf("Stats after Remove = %+v, want 40 bytes and not full", st)
	}
}
