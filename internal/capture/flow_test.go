package capture_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/adapters/blob"
	"github.com/holdline/holdline/internal/capture"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/timeline"
	"github.com/holdline/holdline/outbox"
)

func TestUploadStoresThenAttachesInParts(t *testing.T) {
	e := newEnv(t, envOptions{partBytes: 400_000})
	e.createRecord(t, "int-1")
	body := randomBytes(1_000_000, 1)
	res, err := e.upload(t, "int-1", "rec-1", body, reprDigest(body))
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	r := res.Recording
	if res.Outcome != capture.Stored || r.Stored != "gcs" || r.CRM != "queued" || r.Size != int64(len(body)) {
		t.Fatalf("Upload = %+v, want stored in gcs, crm queued", res)
	}
	day := time.Now().UTC().Format("2006/01/02")
	name := "recordings/" + day + "/int-1/rec-1.wav"
	if r.Object != "gs://"+bucket+"/"+name {
		t.Errorf("object = %q, want gs://%s/%s", r.Object, bucket, name)
	}
	obj, err := e.gcs.Fake().GetObject(bucket, name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(obj.Content, body) {
		t.Errorf("stored %d bytes that differ from the %d sent", len(obj.Content), len(body))
	}
	if obj.Crc32c != r.CRC32C || obj.Metadata["interaction_id"] != "int-1" || obj.Metadata["sha256"] != r.SHA256 || obj.ContentType != "audio/wav" {
		t.Errorf("object attrs crc32c=%s metadata=%v type=%s; want crc32c %s and interaction, sha256 metadata", obj.Crc32c, obj.Metadata, obj.ContentType, r.CRC32C)
	}
	if files := e.spoolFiles(t); len(files) != 0 {
		t.Errorf("spool holds %v after a GCS upload, want nothing", files)
	}

	j := e.waitJob(t, "int-1", timeline.KindAttachRecording, 10*time.Second)
	var rec struct{ ID string }
	for _, rc := range e.crm.Records() {
		if rc.InteractionID == "int-1" {
			rec.ID = rc.ID
			if len(rc.Attachments) != 3 {
				t.Fatalf("record has %d attachments, want 3 parts", len(rc.Attachments))
			}
			var total int64
			for i, a := range rc.Attachments {
				if a.Part != i+1 || a.Parts != 3 || a.IdempotencyKey != "attach:rec-1:part"+string(rune('1'+i)) {
					t.Errorf("attachment %d = part %d/%d key %q, want part %d/3 in order", i, a.Part, a.Parts, a.IdempotencyKey, i+1)
				}
				total += a.Size
			}
			if total != int64(len(body)) {
				t.Errorf("attachments hold %d bytes, want %d", total, len(body))
			}
		}
	}
	if rec.ID == "" {
		t.Fatal("the CRM has no record for int-1")
	}
	if !strings.Contains(string(j.Result), "attachment_ids") {
		t.Errorf("attach result = %s, want attachment_ids", j.Result)
	}
}

func TestReplaySameBytesAndConflict(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true})
	body := randomBytes(300_000, 2)
	first, err := e.upload(t, "int-2", "rec-2", body, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.upload(t, "int-2", "rec-2", body, "")
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if again.Outcome != capture.Replayed || again.Recording != first.Recording {
		t.Errorf("replay = %+v, want Replayed with %+v", again, first.Recording)
	}
	other := randomBytes(300_000, 3)
	if _, err := e.upload(t, "int-2", "rec-2", other, ""); !errors.Is(err, capture.ErrConflict) || holdline.ErrorCode(err) != holdline.ECONFLICT {
		t.Errorf("other bytes under the same id = %v, want a conflict wrapping ErrConflict", err)
	}
	if _, err := e.upload(t, "int-other", "rec-2", body, ""); !errors.Is(err, capture.ErrConflict) {
		t.Errorf("same id under another interaction = %v, want ErrConflict", err)
	}
	if objs := e.objects(t); len(objs) != 1 {
		t.Errorf("bucket holds %v, want one object", objs)
	}
	jobs, _ := e.jobs.Interaction(t.Context(), "int-2")
	if len(jobs) != 1 || jobs[0].Kind != timeline.KindAttachRecording {
		t.Errorf("interaction jobs = %+v, want one attach job", jobs)
	}
}

func TestReplayAfterCrashBetweenCommitAndQueue(t *testing.T) {
	// The object is in GCS but no job says so: the create-only
	// precondition (412) and the stored checksums decide.
	e := newEnv(t, envOptions{noRun: true})
	body := randomBytes(600_000, 4)
	name := "recordings/" + time.Now().UTC().Format("2006/01/02") + "/int-3/rec-3.wav"
	w, err := e.store.Create(t.Context(), name, blob.Meta{ContentType: "audio/wav", InteractionID: "int-3", RecordingID: "rec-3"})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	res0, _ := e.upload(t, "int-x", "rec-x", body, "") // for the sum
	if _, err := w.Commit(t.Context(), sumFrom(res0.Recording)); err != nil {
		t.Fatal(err)
	}
	res, err := e.upload(t, "int-3", "rec-3", body, "")
	if err != nil || res.Outcome != capture.Replayed {
		t.Fatalf("upload after crash = %+v, %v; want Replayed", res, err)
	}
	if _, err := e.upload(t, "int-3", "rec-3b", randomBytes(10, 5), ""); err != nil {
		t.Fatal(err)
	}
}

func sumFrom(r timeline.Recording) blob.Sum {
	c, _ := blob.DecodeCRC32C(r.CRC32C)
	return blob.Sum{Size: r.Size, CRC32C: c, SHA256: r.SHA256}
}

func TestDigestMismatchStoresNothing(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true})
	body := randomBytes(900_000, 6) // several GCS chunks already sent when the mismatch shows
	_, err := e.upload(t, "int-4", "rec-4", body, reprDigest([]byte("other")))
	if !isInvalid(err, "Repr-Digest") || !errors.Is(err, capture.ErrDigestMismatch) {
		t.Fatalf("Upload = %v, want an invalid error for Repr-Digest with ErrDigestMismatch", err)
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("bucket holds %v after a digest mismatch, want nothing", objs)
	}
	if files := e.spoolFiles(t); len(files) != 0 {
		t.Errorf("spool holds %v after a digest mismatch, want nothing", files)
	}
	if jobs, _ := e.jobs.Interaction(t.Context(), "int-4"); len(jobs) != 0 {
		t.Errorf("jobs = %+v, want none", jobs)
	}
	for _, bad := range []string{"sha-256=abc", "md5=:AAAA:", "sha-256=:AAAA:"} {
		if _, err := e.upload(t, "int-4", "rec-4", body, bad); !isInvalid(err, "Repr-Digest") {
			t.Errorf("Repr-Digest %q = %v, want an invalid error for Repr-Digest", bad, err)
		}
	}
}

func TestLimitsAndTypes(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true, maxBytes: 500_000})
	body := randomBytes(600_000, 7)
	if _, err := e.upload(t, "int-5", "rec-5", body, ""); !errors.Is(err, capture.ErrTooLarge) || holdline.ErrorCode(err) != holdline.ETOOLARGE {
		t.Errorf("declared over max = %v, want a too_large error wrapping ErrTooLarge", err)
	}
	// Chunked: the length is only known while streaming.
	_, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: "int-5", RecordingID: "rec-5", ContentType: "audio/ogg",
		ContentLength: -1, Body: io.MultiReader(bytes.NewReader(body))})
	if !errors.Is(err, capture.ErrTooLarge) {
		t.Errorf("streamed over max = %v, want ErrTooLarge", err)
	}
	if objs, files := e.objects(t), e.spoolFiles(t); len(objs)+len(files) != 0 {
		t.Errorf("after 413: bucket %v, spool %v; want both empty", objs, files)
	}
	for _, ct := range []string{"text/plain", "audio/flac", "", "audio/wav; charset"} {
		_, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: "int-5", ContentType: ct, Body: strings.NewReader("x"), ContentLength: 1})
		if !errors.Is(err, capture.ErrUnsupportedType) || holdline.ErrorCode(err) != holdline.EUNSUPPORTEDMEDIA || holdline.ErrorField(err) != "Content-Type" {
			t.Errorf("Content-Type %q = %v, want an unsupported_media error for Content-Type wrapping ErrUnsupportedType", ct, err)
		}
	}
	res, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: "int-5", ContentType: "audio/mpeg; codecs=mp3", Body: strings.NewReader("x"), ContentLength: -1})
	if err != nil || !strings.HasSuffix(res.Recording.Object, ".mp3") || !strings.HasPrefix(res.Recording.RecordingID, "rec-") {
		t.Errorf("generated id upload = %+v, %v; want a rec- id and an .mp3 object", res, err)
	}
	for _, id := range []string{".", ".."} {
		if _, err := e.upload(t, id, "r", []byte("x"), ""); !isInvalid(err, "interaction_id") {
			t.Errorf("interaction %q = %v, want an invalid error for interaction_id", id, err)
		}
	}
}

func TestGCSDownSpoolsThenUploadsThenAttaches(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.createRecord(t, "int-6")
	e.waitJob(t, "int-6", timeline.KindCreateRecord, 5*time.Second)
	f, err := e.faults.Add(resilience.Fault{Dependency: "blob", ErrorRate: 1, Duration: config.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	body := randomBytes(700_000, 8)
	res, err := e.upload(t, "int-6", "rec-6", body, reprDigest(body))
	if err != nil {
		t.Fatalf("Upload with GCS down: %v", err)
	}
	if res.Outcome != capture.Spooled || res.Recording.Stored != "spool" {
		t.Fatalf("Upload with GCS down = %+v, want Spooled", res)
	}
	if files := e.spoolFiles(t); len(files) != 1 || !strings.HasSuffix(files[0], ".rec") {
		t.Fatalf("spool = %v, want one committed file", files)
	}
	// A replay while spooled is the same recording.
	if again, err := e.upload(t, "int-6", "rec-6", body, ""); err != nil || again.Outcome != capture.Replayed || again.Recording.Stored != "spool" {
		t.Errorf("replay while spooled = %+v, %v", again, err)
	}
	// The dispatcher takes the upload job up a few times (it fails, or the
	// open breaker holds it) while GCS is down.
	turns := e.blobTurns.Load()
	eventually(t, "the dispatcher to take the upload job up 3 times", func() bool { return e.blobTurns.Load() >= turns+3 })
	if objs := e.objects(t); len(objs) != 0 {
		t.Fatalf("bucket holds %v while GCS is down", objs)
	}
	e.faults.Delete(f.ID)

	up := e.waitJob(t, "int-6", timeline.KindBlobUpload, 10*time.Second)
	at := e.waitJob(t, "int-6", timeline.KindAttachRecording, 10*time.Second)
	if !at.CreatedAt.After(up.CreatedAt) || at.UpdatedAt.Before(up.UpdatedAt) {
		t.Errorf("attach job %v..%v does not follow upload job %v..%v", at.CreatedAt, at.UpdatedAt, up.CreatedAt, up.UpdatedAt)
	}
	obj, err := e.gcs.Fake().GetObject(bucket, strings.TrimPrefix(res.Recording.Object, "gs://"+bucket+"/"))
	if err != nil || !bytes.Equal(obj.Content, body) {
		t.Fatalf("object after recovery: %v (equal=%v)", err, err == nil && bytes.Equal(obj.Content, body))
	}
	if files := e.spoolFiles(t); len(files) != 0 {
		t.Errorf("spool = %v after the upload, want empty", files)
	}
	var n int
	for _, r := range e.crm.Records() {
		if r.InteractionID == "int-6" {
			n = len(r.Attachments)
		}
	}
	if n != 1 {
		t.Errorf("CRM record of int-6 has %d attachments, want 1", n)
	}
}

// flakyBody takes GCS down after some bytes: the upload fails mid-stream.
type flakyBody struct {
	r     io.Reader
	after int
	read  int
	fail  func()
}

func (b *flakyBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	if b.read >= b.after && b.fail != nil {
		b.fail()
		b.fail = nil
	}
	return n, err
}

func TestGCSFailsMidStreamLosesNothing(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true})
	body := randomBytes(3_000_000, 9)
	res, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: "int-7", RecordingID: "rec-7", ContentType: "audio/wav",
		ContentLength: -1, Body: &flakyBody{r: bytes.NewReader(body), after: 1_000_000, fail: func() { e.gcs.SetDown(true) }}})
	if err != nil || res.Outcome != capture.Spooled {
		t.Fatalf("Upload with GCS failing mid-stream = %+v, %v; want Spooled", res, err)
	}
	e.gcs.SetDown(false)
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("bucket holds %v after a failed upload, want nothing", objs)
	}
	files := e.spoolFiles(t)
	if len(files) != 1 {
		t.Fatalf("spool = %v, want one file", files)
	}
	got, _ := readFile(e.spoolDir, files[0])
	if !bytes.Equal(got, body) {
		t.Errorf("spool file holds %d bytes that differ from the %d sent", len(got), len(body))
	}
}

// TestGCSFailsBetweenChunksLosesNothing: with 256 KiB chunks the store's
// writes send requests while the body streams, so GCS going down fails a
// write in the middle (not only the commit); the recording is spooled
// whole.
func TestGCSFailsBetweenChunksLosesNothing(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true, chunkSize: 256 << 10})
	body := randomBytes(4_000_000, 11)
	res, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: "int-9", RecordingID: "rec-9", ContentType: "audio/wav",
		ContentLength: -1, Body: &flakyBody{r: bytes.NewReader(body), after: 1_000_000, fail: func() { e.gcs.SetDown(true) }}})
	if err != nil || res.Outcome != capture.Spooled {
		t.Fatalf("Upload with GCS failing between chunks = %+v, %v; want Spooled", res, err)
	}
	e.gcs.SetDown(false)
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("bucket holds %v after a failed upload, want nothing", objs)
	}
	files := e.spoolFiles(t)
	if len(files) != 1 {
		t.Fatalf("spool = %v, want one file", files)
	}
	got, _ := readFile(e.spoolDir, files[0])
	if !bytes.Equal(got, body) {
		t.Errorf("spool file holds %d bytes that differ from the %d sent", len(got), len(body))
	}
}

// TestSpoolFullThenGCSFails: the spool drops out first (full), then GCS
// fails between chunks: no sink is left, so the upload is refused and
// nothing is stored or queued.
func TestSpoolFullThenGCSFails(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true, chunkSize: 256 << 10, spoolMax: 500_000})
	body := randomBytes(4_000_000, 12)
	_, err := e.flow.Upload(t.Context(), capture.Request{InteractionID: "int-10", RecordingID: "rec-10", ContentType: "audio/wav",
		ContentLength: -1, Body: &flakyBody{r: bytes.NewReader(body), after: 1_500_000, fail: func() { e.gcs.SetDown(true) }}})
	if !errors.Is(err, capture.ErrInsufficientStorage) {
		t.Fatalf("Upload with the spool full and GCS failing = %v, want ErrInsufficientStorage", err)
	}
	e.gcs.SetDown(false)
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("bucket holds %v, want nothing", objs)
	}
	if files := e.spoolFiles(t); len(files) != 0 {
		t.Errorf("spool holds %v, want nothing", files)
	}
	if jobs, _ := e.jobs.Interaction(t.Context(), "int-10"); len(jobs) != 0 {
		t.Errorf("jobs = %+v, want none", jobs)
	}
}

func TestStoreAndSpoolBothFail(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true})
	if _, err := e.faults.Add(resilience.Fault{Dependency: "blob", ErrorRate: 1, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := removeAll(e.spoolDir); err != nil {
		t.Fatal(err)
	}
	_, err := e.upload(t, "int-8", "rec-8", randomBytes(1000, 10), "")
	if !errors.Is(err, capture.ErrInsufficientStorage) || holdline.ErrorCode(err) != holdline.EINSUFFICIENTSTORAGE || !holdline.IsRetryable(err) {
		t.Fatalf("Upload with GCS down and no spool = %v, want a retryable insufficient_storage error wrapping ErrInsufficientStorage", err)
	}
	if jobs, _ := e.jobs.Interaction(t.Context(), "int-8"); len(jobs) != 0 {
		t.Errorf("jobs = %+v, want none", jobs)
	}
}

func TestDirStore(t *testing.T) {
	e := newEnv(t, envOptions{dir: true, noRun: true})
	body := randomBytes(100_000, 11)
	res, err := e.upload(t, "int-9", "rec-9", body, reprDigest(body))
	if err != nil || res.Outcome != capture.Stored || res.Recording.Stored != "dir" || !strings.HasPrefix(res.Recording.Object, "file:///") {
		t.Fatalf("Upload to dir = %+v, %v", res, err)
	}
	if _, err := e.upload(t, "int-9", "rec-9", randomBytes(100_000, 12), ""); !errors.Is(err, capture.ErrConflict) {
		t.Errorf("other bytes = %v, want ErrConflict", err)
	}
	// The blob fault applies at the store call: the recording is spooled.
	if _, err := e.faults.Add(resilience.Fault{Dependency: "blob", ErrorRate: 1, Duration: config.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	res, err = e.upload(t, "int-9", "rec-10", body, "")
	if err != nil || res.Outcome != capture.Spooled {
		t.Errorf("Upload to dir under a blob fault = %+v, %v; want Spooled", res, err)
	}
	jobs, _ := e.jobs.Interaction(t.Context(), "int-9")
	kinds := []string{}
	for _, j := range jobs {
		kinds = append(kinds, j.Kind)
	}
	if !slices.Equal(kinds, []string{timeline.KindAttachRecording, timeline.KindBlobUpload}) {
		t.Errorf("jobs = %v, want attach then upload", kinds)
	}
	_ = outbox.Done
}
