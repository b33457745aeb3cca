package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
)

// GCSOptions tune the GCS store. Zero fields take the defaults given.
type GCSOptions struct {
	// ChunkSize is the resumable upload's chunk, and what one Writer holds
	// in memory. Rounded up to 256 KiB by the client. Default 8 MiB.
	ChunkSize int
	// ChunkTransferTimeout stops a stalled chunk request so it can be
	// retried. Default 30s.
	ChunkTransferTimeout time.Duration
	// ChunkRetryDeadline bounds the retries of one chunk. Default 10s.
	ChunkRetryDeadline time.Duration
	// MaxAttempts bounds the client's own attempts of one request (the
	// outbox retries whole uploads later). Default 3.
	MaxAttempts int
}

// GCS is a Store on a Google Cloud Storage bucket. Objects are written
// through resumable uploads with the DoesNotExist precondition; metadata
// carries the interaction id, recording id, content type and SHA-256.
type GCS struct {
	client *storage.Client
	bucket *storage.BucketHandle
	name   string
	opts   GCSOptions
}

var _ Store = (*GCS)(nil)

// NewGCS returns a store on bucket. client should come from NewGCSClient so
// that the blob dependency's policies, egress allowlist and drill faults
// apply to every request.
func NewGCS(client *storage.Client, bucket string, opts GCSOptions) *GCS {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 8 << 20
	}
	if opts.ChunkTransferTimeout <= 0 {
		opts.ChunkTransferTimeout = 30 * time.Second
	}
	if opts.ChunkRetryDeadline <= 0 {
		opts.ChunkRetryDeadline = 10 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	return &GCS{client: client, bucket: client.Bucket(bucket), name: bucket, opts: opts}
}

// Kind is "gcs".
func (g *GCS) Kind() string { return "gcs" }

// URI is gs://bucket/name.
func (g *GCS) URI(name string) string { return "gs://" + g.name + "/" + name }

func (g *GCS) object(name string) *storage.ObjectHandle {
	return g.bucket.Object(name).Retryer(
		storage.WithMaxAttempts(g.opts.MaxAttempts),
		storage.WithBackoff(gax.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}),
	)
}

// Create starts a resumable, create-only upload. The upload session opens
// with the first chunk; the object exists only once Commit has sent the
// last one, so Abort (or ctx ending) before Commit leaves nothing behind.
func (g *GCS) Create(ctx context.Context, name string, m Meta) (Writer, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := g.object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ChunkSize = g.opts.ChunkSize
	w.ChunkTransferTimeout = g.opts.ChunkTransferTimeout
	w.ChunkRetryDeadline = g.opts.ChunkRetryDeadline
	w.ContentType = m.ContentType
	w.Metadata = metadata(m)
	if m.HasCRC32C {
		// Known ahead (a spooled recording): the server rejects a mismatch.
		w.SendCRC32C, w.CRC32C = true, m.CRC32C
	}
	// Otherwise the client computes CRC32C while streaming and sends it
	// with the final chunk (storage v1.70 auto checksum), and Commit
	// compares the server's value with ours.
	return &gcsWriter{g: g, name: name, w: w, cancel: cancel, meta: m}, nil
}

func metadata(m Meta) map[string]string {
	md := map[string]string{"interaction_id": m.InteractionID, "recording_id": m.RecordingID, "content_type": m.ContentType}
	if m.SHA256 != "" {
		md["sha256"] = m.SHA256
	}
	return md
}

type gcsWriter struct {
	g      *GCS
	name   string
	w      *storage.Writer
	cancel context.CancelFunc
	meta   Meta
	done   bool
}

func (w *gcsWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("blob: gcs write: %w", mapGCSErr(err))
	}
	return n, nil
}

func (w *gcsWriter) Commit(ctx context.Context, sum Sum) (Attrs, error) {
	defer w.cancel()
	w.done = true
	if err := w.w.Close(); err != nil {
		return Attrs{}, fmt.Errorf("blob: gcs commit %s: %w", w.name, mapGCSErr(err))
	}
	oa := w.w.Attrs()
	if oa.Size != sum.Size || oa.CRC32C != sum.CRC32C {
		// Only reachable when the checksum was not declared ahead (or the
		// server does not check it, as fake-gcs-server does not on
		// multi-chunk uploads): take the object back.
		derr := w.g.bucket.Object(w.name).If(storage.Conditions{GenerationMatch: oa.Generation}).Delete(ctx)
		return Attrs{}, errors.Join(fmt.Errorf("blob: gcs commit %s: stored %d bytes crc32c %s, sent %d bytes crc32c %s: %w",
			w.name, oa.Size, EncodeCRC32C(oa.CRC32C), sum.Size, EncodeCRC32C(sum.CRC32C), ErrChecksum), derr)
	}
	a := gcsAttrs(oa)
	if w.meta.SHA256 == "" && sum.SHA256 != "" {
		// The digest is only known now; a crash before this update leaves
		// an object that Stat reports without SHA256 (callers fall back to
		// size and CRC32C).
		md := metadata(w.meta)
		md["sha256"] = sum.SHA256
		_, err := w.g.bucket.Object(w.name).If(storage.Conditions{GenerationMatch: oa.Generation}).
			Update(ctx, storage.ObjectAttrsToUpdate{Metadata: md})
		if err != nil {
			return a, fmt.Errorf("blob: gcs set digest %s: %w", w.name, mapGCSErr(err))
		}
		a.SHA256 = sum.SHA256
	}
	return a, nil
}

func (w *gcsWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.cancel() // the session is never finalized: no object
	_ = w.w.Close()
}

func gcsAttrs(oa *storage.ObjectAttrs) Attrs {
	return Attrs{Name: oa.Name, Size: oa.Size, CRC32C: oa.CRC32C, SHA256: oa.Metadata["sha256"], ContentType: oa.ContentType, Created: oa.Created}
}

// Stat returns the object's attributes, or ErrNotExist.
func (g *GCS) Stat(ctx context.Context, name string) (Attrs, error) {
	oa, err := g.object(name).Attrs(ctx)
	if err != nil {
		return Attrs{}, fmt.Errorf("blob: gcs stat %s: %w", name, mapGCSErr(err))
	}
	return gcsAttrs(oa), nil
}

// Open reads a range of the object.
func (g *GCS) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	r, err := g.object(name).NewRangeReader(ctx, offset, length)
	if err != nil {
		return nil, fmt.Errorf("blob: gcs open %s: %w", name, mapGCSErr(err))
	}
	return r, nil
}

// Delete removes the object; a missing one is not an error.
func (g *GCS) Delete(ctx context.Context, name string) error {
	err := g.object(name).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("blob: gcs delete %s: %w", name, mapGCSErr(err))
	}
	return nil
}

// SignedURL returns a V4 signed GET URL, signed with the client's
// credentials (a service account key or IAM signBlob); ErrNoLinks when the
// client has none.
func (g *GCS) SignedURL(ctx context.Context, name string, ttl time.Duration) (string, error) {
	u, err := g.bucket.SignedURL(name, &storage.SignedURLOptions{Method: http.MethodGet, Expires: time.Now().Add(ttl), Scheme: storage.SigningSchemeV4})
	if err != nil {
		return "", fmt.Errorf("blob: gcs sign %s: %w: %w", name, ErrNoLinks, err)
	}
	return u, nil
}

// mapGCSErr adds the package's sentinels to the client's errors.
func mapGCSErr(err error) error {
	var gerr *googleapi.Error
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	case errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", ErrExists, err)
	}
	return err
}
