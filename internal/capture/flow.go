package capture

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"mime"
	"regexp"
	"sync"
	"time"

	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

// extensions maps the accepted content types to object name extensions.
var extensions = map[string]string{
	"audio/wav":                ".wav",
	"audio/mpeg":               ".mp3",
	"audio/ogg":                ".ogg",
	"application/octet-stream": ".bin",
}

// Jobs is the part of the outbox the flow uses; outbox.Store has it.
type Jobs interface {
	Enqueue(ctx context.Context, j outbox.Job) (outbox.Job, bool, error)
	Interaction(ctx context.Context, interactionID string) ([]outbox.Job, error)
}

// Options are the flow's optional knobs.
type Options struct {
	// Logger receives store failures that the flow rode out. Nil discards.
	Logger *slog.Logger
	// Now is the clock for object names (UTC date). Nil is time.Now.
	Now func() time.Time
	// Notify, when set, is called after a job is queued (wire it to
	// outbox.Dispatcher.Notify so the job runs without waiting for a poll).
	Notify func()
	// Owner is this sidecar's id (stable across restarts on the same
	// data_dir). A spooled recording's upload job carries it, with the
	// dependency timeline.SpoolDependency(Owner), so that only the sidecar
	// holding the bytes runs the upload (see the package documentation).
	// "" makes upload jobs anyone's, which is right only for a single
	// sidecar.
	Owner string
	// OnSpoolLost, when set, is called when an upload job finds its spool
	// file gone on its owner (the data_dir was lost): the job goes dead,
	// and this makes the loss countable (a metric). It must not block.
	OnSpoolLost func()
}

// Flow stores recordings: store first, spool when the store fails, CRM
// attachment through the outbox. It is safe for concurrent use.
type Flow struct {
	store blob.Store
	spool *blob.Spool
	jobs  Jobs
	dep   *resilience.Dependency
	cfg   config.Recordings
	log   *slog.Logger
	now   func() time.Time
	wake  func()
	locks keyedMutex
	bufs  sync.Pool
	owner string
	lost  func()
}

// New returns a Flow. dep is the "blob" dependency: while its breaker is
// open, uploads go straight to the spool.
func New(store blob.Store, spool *blob.Spool, jobs Jobs, dep *resilience.Dependency, cfg config.Recordings, opts Options) (*Flow, error) {
	var errs []error
	if store == nil || spool == nil || jobs == nil || dep == nil {
		errs = append(errs, errors.New("capture: store, spool, jobs and dependency are required"))
	}
	if cfg.MaxBytes <= 0 {
		errs = append(errs, &config.Problem{Path: "recordings.max_bytes", Msg: "must be positive"})
	}
	if cfg.AttachPartBytes <= 0 {
		errs = append(errs, &config.Problem{Path: "recordings.attach_part_bytes", Msg: "must be positive"})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	f := &Flow{store: store, spool: spool, jobs: jobs, dep: dep, cfg: cfg, log: opts.Logger, now: opts.Now, wake: opts.Notify}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.wake == nil {
		f.wake = func() {}
	}
	f.owner, f.lost = opts.Owner, opts.OnSpoolLost
	if f.lost == nil {
		f.lost = func() {}
	}
	f.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	return f, nil
}

// Request is one recording upload.
type Request struct {
	InteractionID string
	// RecordingID is the client's id; "" generates one.
	RecordingID string
	ContentType string
	// ReprDigest is the raw Repr-Digest header; "" skips the check.
	ReprDigest string
	// ContentLength is the declared length, -1 when unknown (chunked).
	ContentLength int64
	Body          io.Reader
}

// Outcome says how a recording was taken.
type Outcome int

const (
	// Stored: durable in the store, attachment queued (201).
	Stored Outcome = iota + 1
	// Spooled: durable in the local spool, upload queued (202).
	Spooled
	// Replayed: the same bytes were already taken under this id (200).
	Replayed
)

// Result is what Upload did.
type Result struct {
	Outcome Outcome
	// Recording is the recording as its job says: the answer's body.
	Recording timeline.Recording
}

// Upload stores one recording, streaming its body (see the package
// documentation). Its errors a client may see are *holdline.Error values
// (see clientError): EINVALID naming the id or Repr-Digest (wrapping
// ErrDigestMismatch for a body that does not match) or the body (ErrBody),
// EUNSUPPORTEDMEDIA (ErrUnsupportedType), ETOOLARGE (ErrTooLarge),
// ECONFLICT (ErrConflict), EINSUFFICIENTSTORAGE (ErrInsufficientStorage,
// retryable); errors.Is still finds the sentinels. Anything else is
// internal. On every error nothing is stored and nothing is queued.
func (f *Flow) Upload(ctx context.Context, req Request) (Result, error) {
	res, err := f.upload(ctx, req)
	return res, clientError(err)
}

func (f *Flow) upload(ctx context.Context, req Request) (Result, error) {
	ext, err := f.validate(&req)
	if err != nil {
		return Result{}, err
	}
	var want string
	if req.ReprDigest != "" {
		if want, err = parseReprDigest(req.ReprDigest); err != nil {
			return Result{}, err
		}
	}
	if req.ContentLength > f.cfg.MaxBytes {
		return Result{}, fmt.Errorf("%w: %d bytes declared, at most %d accepted", ErrTooLarge, req.ContentLength, f.cfg.MaxBytes)
	}
	unlock := f.locks.lock(req.RecordingID)
	defer unlock()

	prev, err := f.previous(ctx, req.InteractionID, req.RecordingID)
	if err != nil {
		return Result{}, err
	}
	if prev != nil {
		return f.replay(req, want, prev)
	}

	name := f.objectName(req, ext)
	meta := blob.Meta{ContentType: req.ContentType, InteractionID: req.InteractionID, RecordingID: req.RecordingID, SHA256: want}
	t := &tee{}
	defer t.abort()
	if f.dep.BreakerAllows() {
		if t.store, err = f.store.Create(ctx, name, meta); err != nil {
			t.storeErr = err
		}
	} else {
		t.storeErr = fmt.Errorf("capture: %s", resilience.Reason("blob", errBreakerOpen))
	}
	if t.spool, err = f.spool.Create(req.RecordingID); err != nil {
		t.spoolErr = err
	}
	sum, err := f.copy(req.Body, t)
	if err != nil {
		return Result{}, err
	}
	if want != "" && sum.SHA256 != want {
		return Result{}, invalid("Repr-Digest", "the body's sha-256 does not match Repr-Digest; nothing was stored", ErrDigestMismatch)
	}

	if t.store != nil {
		w := t.store
		t.store = nil
		_, err := w.Commit(ctx, sum)
		switch {
		case err == nil:
			return f.stored(ctx, req, name, sum)
		case errors.Is(err, blob.ErrExists):
			// Another process (or this one before a crash) stored this
			// name: the stored bytes decide.
			return f.existing(ctx, req, name, sum)
		default:
			t.storeErr = err
		}
	}
	if t.spool == nil {
		return Result{}, fmt.Errorf("%w: store: %v; spool: %w", ErrInsufficientStorage, t.storeErr, t.spoolErr)
	}
	f.log.LogAttrs(ctx, slog.LevelWarn, "recording spooled: store unavailable",
		slog.String("interaction_id", req.InteractionID), slog.String("recording_id", req.RecordingID),
		slog.String("reason", resilience.Reason("blob", t.storeErr)), slog.Any("error", t.storeErr))
	return f.spooled(ctx, req, name, sum, t)
}

var errBreakerOpen = errors.New("circuit breaker open")

func (f *Flow) validate(req *Request) (ext string, err error) {
	mt, _, perr := mime.ParseMediaType(req.ContentType)
	ext, ok := extensions[mt]
	if perr != nil || !ok {
		return "", fmt.Errorf("%w: %q (send audio/wav, audio/mpeg, audio/ogg or application/octet-stream)", ErrUnsupportedType, req.ContentType)
	}
	req.ContentType = mt
	// Object and spool names are built from these ids: whatever the
	// transport decoded, they hold no '/', and no '.' leads (so no "." or
	// ".." segment), the same rule the API spec states.
	if !safeID.MatchString(req.InteractionID) {
		return "", invalid("interaction_id", "must be 1 to 128 letters, digits, '.', '_', ':' or '-', not starting with '.'", nil)
	}
	if req.RecordingID == "" {
		req.RecordingID = newID()
	} else if !safeID.MatchString(req.RecordingID) {
		return "", invalid("X-Recording-Id", "must be 1 to 128 letters, digits, '.', '_', ':' or '-', not starting with '.'", nil)
	}
	return ext, nil
}

// safeID is an interaction or recording id that is safe in an object name.
var safeID = regexp.MustCompile(`^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$`)

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rec-" + hex.EncodeToString(b[:])
}

// objectName is prefix + UTC date + interaction + recording id + extension,
// e.g. recordings/2026/11/23/int-1/rec-1.wav.
func (f *Flow) objectName(req Request, ext string) string {
	return f.cfg.Prefix + f.now().UTC().Format("2006/01/02") + "/" + req.InteractionID + "/" + req.RecordingID + ext
}

// tee is the two sinks of one upload. A sink that fails is dropped and
// its error kept; the upload goes on while one is left.
type tee struct {
	store    blob.Writer
	storeErr error
	spool    *blob.SpoolFile
	spoolErr error
}

func (t *tee) write(p []byte) error {
	if t.store != nil {
		if _, err := t.store.Write(p); err != nil {
			t.store.Abort()
			t.store, t.storeErr = nil, err
		}
	}
	if t.spool != nil {
		if _, err := t.spool.Write(p); err != nil {
			t.spool.Abort()
			t.spool, t.spoolErr = nil, err
		}
	}
	if t.store == nil && t.spool == nil {
		return fmt.Errorf("%w: store: %v; spool: %w", ErrInsufficientStorage, t.storeErr, t.spoolErr)
	}
	return nil
}

// abort drops whatever sink is still open; it is a no-op for committed ones.
func (t *tee) abort() {
	if t.store != nil {
		t.store.Abort()
	}
	if t.spool != nil {
		t.spool.Abort()
	}
}

// truncated marks a body whose sender stopped before its declared end
// (net/http reports that as io.ErrUnexpectedEOF, which io.ReadFull also
// uses for a short last read, so it must be told apart before ReadFull).
type truncated struct{ r io.Reader }

func (t truncated) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("the client sent less than its Content-Length: %w", err)
	}
	return n, err
}

// copy streams body into the tee, hashing and counting. A body cut short
// (the client hung up) is ErrBody: nothing of it is kept.
func (f *Flow) copy(body io.Reader, t *tee) (blob.Sum, error) {
	body = truncated{body}
	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	buf := *bp
	crc, sha := crc32.New(blob.Castagnoli), sha256.New()
	var n int64
	for {
		m, rerr := io.ReadFull(body, buf)
		if m > 0 {
			n += int64(m)
			if n > f.cfg.MaxBytes {
				return blob.Sum{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, f.cfg.MaxBytes)
			}
			crc.Write(buf[:m])
			sha.Write(buf[:m])
			if err := t.write(buf[:m]); err != nil {
				return blob.Sum{}, err
			}
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF: // ReadFull's own: the body ended
			return blob.Sum{Size: n, CRC32C: crc.Sum32(), SHA256: hexSum(sha)}, nil
		case rerr != nil:
			return blob.Sum{}, fmt.Errorf("%w: %w", ErrBody, rerr)
		}
	}
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// stored queues the attachment of a committed object and answers 201.
func (f *Flow) stored(ctx context.Context, req Request, name string, sum blob.Sum) (Result, error) {
	p := timeline.AttachPayload{
		RecordingID: req.RecordingID, InteractionID: req.InteractionID, Object: f.store.URI(name), Name: name,
		Stored: f.store.Kind(), Size: sum.Size, CRC32C: blob.EncodeCRC32C(sum.CRC32C), SHA256: sum.SHA256, ContentType: req.ContentType,
	}
	job, err := f.enqueueAttach(ctx, p)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			// The id belongs to another interaction: take back what this
			// upload created.
			if derr := f.store.Delete(ctx, name); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return Result{}, err
	}
	return Result{Outcome: Stored, Recording: recording(job)}, nil
}

// existing handles a create-only miss: the same bytes are a replay (and
// the attachment is queued if it is not yet), others a conflict.
func (f *Flow) existing(ctx context.Context, req Request, name string, sum blob.Sum) (Result, error) {
	a, err := f.store.Stat(ctx, name)
	if err != nil {
		return Result{}, fmt.Errorf("capture: recording exists but cannot be read: %w", err)
	}
	if a.Size != sum.Size || a.CRC32C != sum.CRC32C || (a.SHA256 != "" && a.SHA256 != sum.SHA256) {
		return Result{}, fmt.Errorf("%w: %s holds other bytes", ErrConflict, req.RecordingID)
	}
	res, err := f.stored(ctx, req, name, sum)
	res.Outcome = Replayed
	return res, err
}

// spooled commits the spool file and queues its upload: 202.
func (f *Flow) spooled(ctx context.Context, req Request, name string, sum blob.Sum, t *tee) (Result, error) {
	sp := t.spool
	t.spool = nil
	path, err := sp.Commit()
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInsufficientStorage, err)
	}
	p := timeline.UploadPayload{
		RecordingID: req.RecordingID, InteractionID: req.InteractionID, SpoolPath: path, Object: f.store.URI(name), Name: name,
		Size: sum.Size, CRC32C: blob.EncodeCRC32C(sum.CRC32C), SHA256: sum.SHA256, ContentType: req.ContentType,
		Owner: f.owner,
	}
	job, created, err := f.jobs.Enqueue(ctx, timeline.UploadJob(p))
	if err != nil || !created {
		_ = f.spool.Remove(path)
	}
	if err != nil {
		return Result{}, fmt.Errorf("capture: queue upload: %w", err)
	}
	if !created {
		// Raced with an upload of this id elsewhere.
		old, _ := timeline.DecodeUpload(job)
		if old.InteractionID != req.InteractionID || old.SHA256 != sum.SHA256 {
			return Result{}, fmt.Errorf("%w: %s", ErrConflict, req.RecordingID)
		}
		return Result{Outcome: Replayed, Recording: recording(job)}, nil
	}
	f.wake()
	return Result{Outcome: Spooled, Recording: recording(job)}, nil
}

func (f *Flow) enqueueAttach(ctx context.Context, p timeline.AttachPayload) (outbox.Job, error) {
	job, created, err := f.jobs.Enqueue(ctx, timeline.AttachJob(p))
	if err != nil {
		return outbox.Job{}, fmt.Errorf("capture: queue attachment: %w", err)
	}
	if created {
		f.wake()
		return job, nil
	}
	old, _ := timeline.DecodeAttach(job)
	if old.InteractionID != p.InteractionID || old.SHA256 != p.SHA256 || old.Size != p.Size {
		return outbox.Job{}, fmt.Errorf("%w: %s", ErrConflict, p.RecordingID)
	}
	return job, nil
}

// previous finds what the interaction already holds under the recording
// id: its attach job (stored) or, failing that, its upload job (spooled).
func (f *Flow) previous(ctx context.Context, interactionID, recordingID string) (*outbox.Job, error) {
	jobs, err := f.jobs.Interaction(ctx, interactionID)
	// ErrPartial (Redis down in fleet mode): decide from the local jobs. A
	// replay missed here is still caught: the store's create-only commit
	// finds the object, and the job's idempotency key finds the job.
	if err != nil && !errors.Is(err, outbox.ErrPartial) {
		return nil, fmt.Errorf("capture: read interaction jobs: %w", err)
	}
	var found *outbox.Job
	for i := range jobs {
		switch jobs[i].IdempotencyKey {
		case timeline.AttachKey(recordingID):
			return &jobs[i], nil
		case timeline.UploadKey(recordingID):
			found = &jobs[i]
		}
	}
	return found, nil
}

// replay reads the body only to hash it, and answers with the recording
// as it stands (200) or ErrConflict.
func (f *Flow) replay(req Request, want string, prev *outbox.Job) (Result, error) {
	rec, ok := timeline.RecordingOf(*prev)
	if !ok {
		return Result{}, fmt.Errorf("capture: job %s (%s) holds no readable recording", prev.ID, prev.Kind)
	}
	sum, err := f.copy(req.Body, &tee{spool: nil, store: discard{}})
	if err != nil {
		return Result{}, err
	}
	if want != "" && sum.SHA256 != want {
		return Result{}, invalid("Repr-Digest", "the body's sha-256 does not match Repr-Digest", ErrDigestMismatch)
	}
	if sum.SHA256 != rec.SHA256 || sum.Size != rec.Size {
		return Result{}, fmt.Errorf("%w: %s was stored with other bytes", ErrConflict, req.RecordingID)
	}
	return Result{Outcome: Replayed, Recording: rec}, nil
}

// discard is a blob.Writer that drops bytes, for hashing a replay.
type discard struct{}

func (discard) Write(p []byte) (int, error)                          { return len(p), nil }
func (discard) Commit(context.Context, blob.Sum) (blob.Attrs, error) { return blob.Attrs{}, nil }
func (discard) Abort()                                               {}

// keyedMutex serializes uploads of one recording id.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
