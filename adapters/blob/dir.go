package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdline/holdline/internal/resilience"
)

// Dir is a Store on a local directory, for sites without GCS. An object is
// written to a temporary file, fsynced, then hard-linked to its name (which
// fails if the name is taken: create-only) and the directory fsynced. Its
// Meta is kept beside it in NAME.meta.json.
type Dir struct {
	root string
	dep  *resilience.Dependency
}

var _ Store = (*Dir)(nil)

const metaSuffix = ".meta.json"

// NewDir returns a store rooted at root, creating it. dep, the "blob"
// dependency, may be nil; when set, its drill faults apply to Create and
// Commit and Commit runs through its policy chain.
func NewDir(root string, dep *resilience.Dependency) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(root, ".tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blob: dir: %w", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob: dir: %w", err)
	}
	return &Dir{root: abs, dep: dep}, nil
}

// Kind is "dir".
func (d *Dir) Kind() string { return "dir" }

// URI is file:///root/name.
func (d *Dir) URI(name string) string {
	return (&url.URL{Scheme: "file", Path: filepath.Join(d.root, name)}).String()
}

// path maps an object name to a file under root, refusing names that
// would leave it.
func (d *Dir) path(name string) (string, error) {
	if !filepath.IsLocal(name) || strings.HasPrefix(name, ".tmp") || strings.HasSuffix(name, metaSuffix) {
		return "", fmt.Errorf("blob: dir: object name %q is not allowed", name)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

// Create starts a temporary file for name.
func (d *Dir) Create(ctx context.Context, name string, m Meta) (Writer, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if d.dep != nil {
		if err := d.dep.Inject(ctx); err != nil {
			return nil, fmt.Errorf("blob: dir create %s: %w", name, err)
		}
	}
	f, err := os.CreateTemp(filepath.Join(d.root, ".tmp"), "obj-*")
	if err != nil {
		return nil, fmt.Errorf("blob: dir create %s: %w", name, diskFull(err))
	}
	return &dirWriter{d: d, name: name, path: p, f: f, meta: m, crc: crc32.New(Castagnoli), sha: sha256.New()}, nil
}

type dirWriter struct {
	d          *Dir
	name, path string
	f          *os.File
	meta       Meta
	crc        hash.Hash32
	sha        hash.Hash
	n          int64
	done       bool
}

func (w *dirWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	w.crc.Write(p[:n])
	w.sha.Write(p[:n])
	if err != nil {
		return n, fmt.Errorf("blob: dir write %s: %w", w.name, diskFull(err))
	}
	return n, nil
}

func (w *dirWriter) Commit(ctx context.Context, sum Sum) (Attrs, error) {
	if w.done {
		return Attrs{}, errors.New("blob: dir commit: writer already finished")
	}
	w.done = true
	defer os.Remove(w.f.Name())
	a := Attrs{Name: w.name, Size: w.n, CRC32C: w.crc.Sum32(), SHA256: hex.EncodeToString(w.sha.Sum(nil)), ContentType: w.meta.ContentType}
	commit := func(ctx context.Context) (Attrs, error) {
		if w.d.dep != nil {
			if err := w.d.dep.Inject(ctx); err != nil {
				return Attrs{}, err
			}
		}
		err := w.f.Sync()
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Attrs{}, diskFull(err)
		}
		if a.Size != sum.Size || a.CRC32C != sum.CRC32C || (w.meta.HasCRC32C && a.CRC32C != w.meta.CRC32C) {
			return Attrs{}, fmt.Errorf("stored %d bytes crc32c %s, sent %d bytes crc32c %s: %w",
				a.Size, EncodeCRC32C(a.CRC32C), sum.Size, EncodeCRC32C(sum.CRC32C), ErrChecksum)
		}
		dir := filepath.Dir(w.path)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Attrs{}, diskFull(err)
		}
		if err := os.Link(w.f.Name(), w.path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return Attrs{}, fmt.Errorf("%w: %w", ErrExists, err)
			}
			return Attrs{}, diskFull(err)
		}
		st, err := os.Stat(w.path)
		if err != nil {
			return Attrs{}, err
		}
		a.Created = st.ModTime().UTC()
		m := w.meta
		m.SHA256, m.CRC32C, m.HasCRC32C = a.SHA256, a.CRC32C, true
		if err := writeMeta(w.path+metaSuffix, m); err != nil {
			return Attrs{}, err // the object stands; Stat recomputes without meta
		}
		return a, syncDir(dir)
	}
	var err error
	if w.d.dep != nil {
		a, err = resilience.Write(ctx, w.d.dep, "commit", commit)
	} else {
		a, err = commit(ctx)
	}
	if err != nil {
		w.f.Close()
		return Attrs{}, fmt.Errorf("blob: dir commit %s: %w", w.name, err)
	}
	return a, nil
}

func (w *dirWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

func writeMeta(p string, m Meta) error {
	b, err := json.Marshal(map[string]string{
		"content_type": m.ContentType, "interaction_id": m.InteractionID, "recording_id": m.RecordingID,
		"sha256": m.SHA256, "crc32c": EncodeCRC32C(m.CRC32C),
	})
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return diskFull(err)
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Stat returns the object's attributes from its meta file, computing the
// checksums from the bytes when the meta file is missing.
func (d *Dir) Stat(ctx context.Context, name string) (Attrs, error) {
	p, err := d.path(name)
	if err != nil {
		return Attrs{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Attrs{}, fmt.Errorf("blob: dir stat %s: %w", name, ErrNotExist)
	} else if err != nil {
		return Attrs{}, fmt.Errorf("blob: dir stat %s: %w", name, err)
	}
	a := Attrs{Name: name, Size: st.Size(), Created: st.ModTime().UTC()}
	var md map[string]string
	if b, err := os.ReadFile(p + metaSuffix); err == nil && json.Unmarshal(b, &md) == nil {
		a.SHA256, a.ContentType = md["sha256"], md["content_type"]
		if c, err := DecodeCRC32C(md["crc32c"]); err == nil {
			a.CRC32C = c
			return a, nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return Attrs{}, fmt.Errorf("blob: dir stat %s: %w", name, err)
	}
	defer f.Close()
	c, s := crc32.New(Castagnoli), sha256.New()
	if _, err := io.Copy(io.MultiWriter(c, s), f); err != nil {
		return Attrs{}, fmt.Errorf("blob: dir stat %s: %w", name, err)
	}
	a.CRC32C, a.SHA256 = c.Sum32(), hex.EncodeToString(s.Sum(nil))
	return a, nil
}

// Open reads a range of the object.
func (d *Dir) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob: dir open %s: %w", name, ErrNotExist)
	} else if err != nil {
		return nil, fmt.Errorf("blob: dir open %s: %w", name, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: dir open %s: %w", name, err)
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

// Delete removes the object and its meta file.
func (d *Dir) Delete(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: dir delete %s: %w", name, err)
	}
	_ = os.Remove(p + metaSuffix)
	return nil
}

// SignedURL is ErrNoLinks: a local file has no URL a CRM could fetch.
func (d *Dir) SignedURL(context.Context, string, time.Duration) (string, error) {
	return "", ErrNoLinks
}
