package outbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// codecJobs are jobs with every field set, unset and at its edges.
func codecJobs() []Job {
	t0 := time.Date(2026, 12, 6, 18, 0, 0, 123456789, time.UTC)
	return []Job{
		{ID: "01M9686GBWRTKDEBCAJK65GXZ6", Kind: "k", State: Pending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0},
		{
			ID: "01M9686GBYT1GECENG9H7MASYJ", Kind: "crm.add_comment", Dependency: "crm",
			InteractionID: "call-ü-1", IdempotencyKey: "comment:call-1:" + strings.Repeat("f", 200),
			Payload: json.RawMessage(`{"request_hash":"def","comment":{"body":"héllo ✓","author":"agent 7"}}`),
			State:   Done, Attempts: 300, NextAttemptAt: t0.Add(time.Minute), FirstFailedAt: t0.Add(time.Second),
			CreatedAt: t0, UpdatedAt: t0.Add(2 * time.Minute), Result: json.RawMessage(`{"record_id":"500Xx01"}`),
			Origin: Origin{RequestID: "req-7f3a", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "vendor=x"},
		},
		{ID: "01M9686GBZ1PG8F63WTJ8E0HW5", Kind: "x", State: Dead, LastError: strings.Repeat("é", 2000), NextAttemptAt: time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC), CreatedAt: t0, UpdatedAt: t0},
		{ID: "id", Kind: "h", State: Held, Payload: json.RawMessage(`null`), NextAttemptAt: time.Date(2300, 1, 1, 0, 0, 0, 999999999, time.UTC)},
		{ID: "id2", Kind: "i", State: Inflight},
	}
}

// TestJobRecordMatchesJSON: a job read back from its binary record equals
// the same job read back from JSON (the schema 1 record), field for field.
func TestJobRecordMatchesJSON(t *testing.T) {
	t.Parallel()
	for _, j := range codecJobs() {
		v := encodeJob(nil, &j)
		if len(v) > encodedSize(&j) {
			t.Errorf("job %s: record is %d bytes, encodedSize says at most %d", j.ID, len(v), encodedSize(&j))
		}
		got, err := decodeJob(v)
		if err != nil {
			t.Fatalf("job %s: %v", j.ID, err)
		}
		js, err := json.Marshal(&j)
		if err != nil {
			t.Fatal(err)
		}
		want, err := decodeJob(js)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("binary record reads back as\n%+v\nJSON as\n%+v", got, want)
		}
		if len(v) >= len(js) {
			t.Errorf("job %s: binary record %d bytes, JSON %d", j.ID, len(v), len(js))
		}
	}
}

// TestJobRecordMalformed: every truncation of a record, and a record with
// trailing bytes or an unknown state, is an error, never a job.
func TestJobRecordMalformed(t *testing.T) {
	t.Parallel()
	j := codecJobs()[1]
	v := encodeJob(nil, &j)
	for n := 1; n < len(v); n++ {
		if got, err := decodeJob(v[:n]); err == nil || !errors.Is(err, errRecord) {
			t.Fatalf("record cut to %d of %d bytes: %+v, %v; want errRecord", n, len(v), got, err)
		}
	}
	if _, err := decodeJob(append(v[:len(v):len(v)], 0)); !errors.Is(err, errRecord) {
		t.Errorf("record with a trailing byte: %v, want errRecord", err)
	}
	bad := append([]byte(nil), v...)
	bad[1] = 'z'
	if _, err := decodeJob(bad); !errors.Is(err, errRecord) {
		t.Errorf("record with state byte z: %v, want errRecord", err)
	}
}

// TestBoltOpensSchema1File opens a file written by the version before the
// binary record (testdata/outbox-v1.db: JSON records, schema 1; its jobs
// as that version listed them are in outbox-v1.jobs.json). Every job reads
// back the same, the indexes agree, the file is marked schema 2, and the
// old jobs go on through claim and complete beside new ones.
func TestBoltOpensSchema1File(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "outbox-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "outbox-v1.jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	// The fixture really is schema 1 with JSON records.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyVersion); len(v) != 8 || v[7] != 1 {
			t.Errorf("fixture schema version %x, want 1", v)
		}
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			if v[0] != '{' {
				t.Errorf("fixture job %s is not JSON: %q", k, v)
			}
			return nil
		})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("Check on the schema 1 file: %v", err)
	}
	jobs, _, err := s.List(t.Context(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(jobs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(append(got, '\n')) != string(want) {
		t.Errorf("jobs of the schema 1 file read as\n%s\nwant (as the old version listed them)\n%s", got, want)
	}
	var version uint64
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyVersion)
		version = uint64(v[7])
		return nil
	})
	if err != nil || version != schemaVersion {
		t.Errorf("schema version after open = %d, %v; want %d", version, err, schemaVersion)
	}

	// The old jobs' idempotency keys still hold, and they run on.
	old := jobs[1]
	if j, created, err := s.Enqueue(t.Context(), Job{Kind: old.Kind, IdempotencyKey: old.IdempotencyKey}); err != nil || created || j.ID != old.ID {
		t.Errorf("Enqueue(key of an old job) = %s, created %v, %v; want %s", j.ID, created, err, old.ID)
	}
	fresh, _, err := s.Enqueue(t.Context(), Job{Kind: "k", InteractionID: old.InteractionID, Payload: json.RawMessage(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Claim(t.Context(), time.Now(), 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, j := range claimed {
		ran[j.ID] = true
		if err := s.Complete(t.Context(), j.ID, json.RawMessage(`{"ok":true}`)); err != nil {
			t.Fatal(err)
		}
	}
	if !ran[old.ID] || ran[fresh.ID] {
		t.Errorf("claimed %v: want the old pending head %s, not %s queued behind it", ran, old.ID, fresh.ID)
	}
	if j, err := s.Get(t.Context(), old.ID); err != nil || j.State != Done || string(j.Payload) != string(old.Payload) || j.Origin != old.Origin {
		t.Errorf("old job after Complete = %+v, %v; want done with its payload and origin", j, err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestBoltRefusesNewerSchema: a file marked with a schema this build does
// not know is refused at open, with the versions in the error, and left
// as it was.
func TestBoltRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte{0, 0, 0, 0, 0, 0, 0, schemaVersion + 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBolt(path, BoltOptions{})
	if err == nil {
		s.Close()
		t.Fatal("OpenBolt of a schema 3 file succeeded, want an error")
	}
	if want := "schema version 3, this build reads 1 to 2"; !strings.Contains(err.Error(), want) {
		t.Errorf("OpenBolt error = %v, want it to say %q", err, want)
	}
}
