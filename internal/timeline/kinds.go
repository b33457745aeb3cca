package timeline

import (
	"slices"
	"strconv"
	"strings"

	"github.com/holdline/holdline/outbox"
)

// The job kinds of an interaction (outbox.Job.Kind, and the key of each
// kind's outbox.Handler). The strings are stored with every queued job:
// never change one.
const (
	// KindCreateRecord creates the interaction's CRM record, or appends
	// to it when it exists.
	KindCreateRecord = "crm.create_record"
	// KindAddComment adds a comment to the interaction's CRM record.
	KindAddComment = "crm.add_comment"
	// KindMoveRecord re-creates the interaction's CRM record on another
	// endpoint and makes it the interaction's record.
	KindMoveRecord = "crm.move_record"
	// KindBlobUpload moves a spooled recording into the recording store.
	KindBlobUpload = "blob.upload"
	// KindAttachRecording attaches a stored recording to the
	// interaction's CRM record.
	KindAttachRecording = "crm.attach_recording"
)

// Kinds lists every kind of the catalogue, in the order an interaction
// typically runs them.
func Kinds() []string {
	return []string{KindCreateRecord, KindAddComment, KindBlobUpload, KindAttachRecording, KindMoveRecord}
}

// The outbox dependencies the jobs wait on: while one is paused its jobs
// are not run and spend no attempts.
const (
	// DependencyCRM is the dependency of every crm.* kind.
	DependencyCRM = "crm"
	// DependencyBlob is the dependency of a blob.upload job without an
	// owner (see SpoolDependency).
	DependencyBlob = "blob"
	// SpoolDependencyPrefix starts the dependency of a blob.upload job
	// whose bytes are in one sidecar's spool: SpoolDependency(owner).
	SpoolDependencyPrefix = "spool:"
)

// SpoolDependency is the outbox dependency of upload jobs whose spool
// files only the sidecar owner holds. A dispatcher pauses every such
// dependency but its own (and its own while the blob breaker is open), so
// the upload is only ever claimed by the owner; the attach job it queues
// once the object is stored is anyone's. Empty owner: DependencyBlob.
func SpoolDependency(owner string) string {
	if owner == "" {
		return DependencyBlob
	}
	return SpoolDependencyPrefix + owner
}

// SpoolOwner returns the owner of a SpoolDependency, and whether dep is
// one.
func SpoolOwner(dep string) (owner string, ok bool) {
	return strings.CutPrefix(dep, SpoolDependencyPrefix)
}

// UploadKey is the idempotency key of a recording's blob.upload job.
func UploadKey(recordingID string) string { return "upload:" + recordingID }

// AttachKey is the idempotency key of a recording's crm.attach_recording
// job.
func AttachKey(recordingID string) string { return "attach:" + recordingID }

// AttachPartKey is the idempotency key the CRM gets for part n (from 1) of
// a recording's attachment.
func AttachPartKey(recordingID string, n int) string {
	return AttachKey(recordingID) + ":part" + strconv.Itoa(n)
}

// SetsRecord reports whether a done job of kind names the interaction's
// CRM record in its result (a RecordResult): the first done
// crm.create_record, and each later done crm.move_record.
func SetsRecord(kind string) bool {
	return kind == KindCreateRecord || kind == KindMoveRecord
}

// CanQueue reports whether a job of kind may be queued behind jobs, the
// interaction's jobs in any state. A crm.add_comment needs a
// crm.create_record job before it: queued first, it would head the
// interaction and hold the record write sent after it. Every other kind
// can always be queued (capture never refuses a recording; its attach
// waits behind the record).
func CanQueue(kind string, jobs []outbox.Job) bool {
	if kind != KindAddComment {
		return true
	}
	return slices.ContainsFunc(jobs, func(j outbox.Job) bool { return j.Kind == KindCreateRecord })
}
