package blob_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/gcsemu"
	"github.com/holdline/holdline/internal/resilience"
)

const bucket = "recordings"

// newGCS starts the emulator and returns a store on it whose client runs
// through a real blob dependency (policies, allowlist, faults).
func newGCS(t testing.TB, chunk int) (*blob.GCS, *gcsemu.Server, *resilience.Dependency) {
	t.Helper()
	g, err := gcsemu.Start(gcsemu.Options{Buckets: []string{bucket}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	deps := config.Default().Dependencies
	deps.Blob.Endpoints.Primary = g.URL()
	set, err := resilience.NewSet(deps, resilience.Options{AllowLoopback: true, Faults: resilience.NewFaults(nil)})
	if err != nil {
		t.Fatal(err)
	}
	dep := set.Get("blob")
	c, err := blob.NewGCSClient(t.Context(), dep, g.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return blob.NewGCS(c, bucket, blob.GCSOptions{ChunkSize: chunk}), g, dep
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sumOf(b []byte) blob.Sum {
	s := sha256.Sum256(b)
	return blob.Sum{Size: int64(len(b)), CRC32C: crc32.Checksum(b, blob.Castagnoli), SHA256: hex.EncodeToString(s[:])}
}

func put(t *testing.T, s blob.Store, name string, b []byte) (blob.Attrs, error) {
	t.Helper()
	w, err := s.Create(t.Context(), name, blob.Meta{ContentType: "audio/wav", InteractionID: "int-1", RecordingID: "rec-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for p := b; len(p) > 0; {
		n := min(len(p), 100_000)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[n:]
	}
	return w.Commit(t.Context(), sumOf(b))
}

// testStore is the contract every Store meets.
func testStore(t *testing.T, s blob.Store) {
	ctx := t.Context()
	data := randomBytes(700_000) // several 256 KiB chunks on GCS

	t.Run("create then read back", func(t *testing.T) {
		a, err := put(t, s, "a/one.wav", data)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		want := sumOf(data)
		if a.Size != want.Size || a.CRC32C != want.CRC32C {
			t.Errorf("Commit attrs = %d %x, want %d %x", a.Size, a.CRC32C, want.Size, want.CRC32C)
		}
		st, err := s.Stat(ctx, "a/one.wav")
		if err != nil {
			t.Fatal(err)
		}
		if st.SHA256 != want.SHA256 || st.CRC32C != want.CRC32C || st.Size != want.Size {
			t.Errorf("Stat = %+v, want sha256 %s", st, want.SHA256)
		}
		rc, err := s.Open(ctx, "a/one.wav", 300_000, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data[300_000:301_000]) {
			t.Errorf("Open range returned %d bytes that differ", len(got))
		}
	})
	t.Run("create-only", func(t *testing.T) {
		if _, err := put(t, s, "a/two.wav", data); err != nil {
			t.Fatal(err)
		}
		other := randomBytes(1000)
		if _, err := put(t, s, "a/two.wav", other); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("second Commit = %v, want ErrExists", err)
		}
		st, _ := s.Stat(ctx, "a/two.wav")
		if st.Size != int64(len(data)) {
			t.Errorf("object size after refused overwrite = %d, want %d", st.Size, len(data))
		}
	})
	t.Run("abort stores nothing", func(t *testing.T) {
		w, err := s.Create(ctx, "a/aborted.wav", blob.Meta{ContentType: "audio/wav"})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Abort()
		if _, err := s.Stat(ctx, "a/aborted.wav"); !errors.Is(err, blob.ErrNotExist) {
			t.Errorf("Stat after Abort = %v, want ErrNotExist", err)
		}
	})
	t.Run("checksum mismatch stores nothing", func(t *testing.T) {
		w, err := s.Create(ctx, "a/bad.wav", blob.Meta{ContentType: "audio/wav"})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		sum := sumOf(data)
		sum.CRC32C++
		if _, err := w.Commit(ctx, sum); !errors.Is(err, blob.ErrChecksum) {
			t.Fatalf("Commit with wrong sum = %v, want ErrChecksum", err)
		}
		if _, err := s.Stat(ctx, "a/bad.wav"); !errors.Is(err, blob.ErrNotExist) {
			t.Errorf("Stat after mismatch = %v, want ErrNotExist", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := s.Open(ctx, "a/none.wav", 0, -1); !errors.Is(err, blob.ErrNotExist) {
			t.Errorf("Open missing = %v, want ErrNotExist", err)
		}
	})
}

func TestGCS(t *testing.T) {
	s, _, _ := newGCS(t, 256<<10)
	testStore(t, s)
}

func TestDir(t *testing.T) {
	s, err := blob.NewDir(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, s)
	if _, err := s.Create(t.Context(), "../escape.wav", blob.Meta{}); err == nil {
		t.Error("Create(../escape.wav) succeeded, want an error")
	}
}

func TestGCSDeclaredCRC(t *testing.T) {
	// A single-request upload with a wrong declared CRC32C is refused by
	// the server itself (the fake checks single-chunk uploads only).
	s, _, _ := newGCS(t, 256<<10)
	data := randomBytes(1000)
	w, err := s.Create(t.Context(), "declared.wav", blob.Meta{ContentType: "audio/wav", CRC32C: sumOf(data).CRC32C + 1, HasCRC32C: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if _, err := w.Commit(t.Context(), sumOf(data)); err == nil {
		t.Fatal("Commit with a wrong declared CRC32C succeeded")
	}
	if _, err := s.Stat(t.Context(), "declared.wav"); !errors.Is(err, blob.ErrNotExist) {
		t.Errorf("Stat = %v, want ErrNotExist", err)
	}
}

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "old.123.part"), []byte("half"), 0o600)
	sp, err := blob.OpenSpool(dir, blob.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "old.123.part")); !os.IsNotExist(err) {
		t.Errorf("leftover temp file still there after OpenSpool: %v", err)
	}
	f, _ := sp.Create("rec-1")
	f.Write([]byte("hello"))
	p, err := f.Commit()
	if err != nil {
		t.Fatal(err)
	}
	r, err := sp.Open("/elsewhere/" + filepath.Base(p)) // only the base name counts
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "hello" {
		t.Errorf("spool read %q, want hello", b)
	}
	g, _ := sp.Create("rec-2")
	g.Write([]byte("x"))
	g.Abort()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("spool holds %d files after one commit and one abort, want 1", len(ents))
	}
}
