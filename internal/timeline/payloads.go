package timeline

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/holdline/holdline/adapters/crm"
	"github.com/holdline/holdline/outbox"
)

// RecordPayload is the payload of a crm.create_record job.
type RecordPayload struct {
	// RequestHash identifies the request that queued the job, so that a
	// repeated idempotency key with another request is told apart.
	RequestHash string        `json:"request_hash"`
	Record      crm.NewRecord `json:"record"`
}

// CommentPayload is the payload of a crm.add_comment job.
type CommentPayload struct {
	RequestHash string      `json:"request_hash"`
	Comment     crm.Comment `json:"comment"`
}

// RecordRef is an interaction's CRM record and the endpoint that created
// it (or holds it after an operator moved it). An empty Endpoint (a result
// written before records remembered theirs) means the primary.
type RecordRef struct {
	ID       string `json:"record_id"`
	Endpoint string `json:"endpoint"`
}

// MovePayload is the payload of a crm.move_record job.
type MovePayload struct {
	// To is the endpoint the record is to be re-created on.
	To string `json:"to"`
	// From is the record as it was when the move was asked for.
	From   RecordRef `json:"from"`
	Reason string    `json:"reason,omitempty"`
}

// RecordResult is the result of the crm.create_record, crm.add_comment and
// crm.move_record kinds.
type RecordResult struct {
	RecordID  string `json:"record_id,omitempty"`
	CommentID string `json:"comment_id,omitempty"`
	// Appended is set by a crm.create_record job that added its subject
	// and description to an existing record as a comment.
	Appended bool `json:"appended,omitempty"`
	// Endpoint is the CRM endpoint holding the record (primary or
	// secondary); set by the record and move kinds.
	Endpoint string `json:"endpoint,omitempty"`
}

// UploadPayload is the payload of a blob.upload job.
type UploadPayload struct {
	RecordingID   string `json:"recording_id"`
	InteractionID string `json:"interaction_id"`
	// SpoolPath is the spool file holding the bytes.
	SpoolPath string `json:"spool_path"`
	// Object is the URI the recording will have (gs://bucket/name); Name
	// is the object name inside the store.
	Object string `json:"object"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	// CRC32C is base64 of the big-endian checksum (blob.EncodeCRC32C).
	CRC32C      string `json:"crc32c"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	// Owner is the id of the sidecar whose spool holds the bytes ("" for
	// jobs of a single sidecar, or queued before owners existed).
	Owner string `json:"owner,omitempty"`
}

// UploadResult is the result of a blob.upload job.
type UploadResult struct {
	Object string `json:"object"`
	// Stored is the store kind the bytes went to: gcs or dir.
	Stored      string `json:"stored"`
	AttachJobID string `json:"attach_job_id"`
}

// AttachPayload is the payload of a crm.attach_recording job.
type AttachPayload struct {
	RecordingID   string `json:"recording_id"`
	InteractionID string `json:"interaction_id"`
	Object        string `json:"object"`
	Name          string `json:"name"`
	// Stored is the store kind: gcs or dir.
	Stored      string `json:"stored"`
	Size        int64  `json:"size"`
	CRC32C      string `json:"crc32c"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// AttachResult is the result of a crm.attach_recording job.
type AttachResult struct {
	AttachmentIDs []string `json:"attachment_ids"`
}

// CreateRecordJob returns the crm.create_record job of the interaction,
// with idempotency key key. The error is the payload's encoding's (a
// record field JSON cannot hold).
func CreateRecordJob(interactionID, key string, p RecordPayload) (outbox.Job, error) {
	return newJob(KindCreateRecord, DependencyCRM, interactionID, key, p)
}

// AddCommentJob returns the crm.add_comment job of the interaction, with
// idempotency key key. The error is the payload's encoding's.
func AddCommentJob(interactionID, key string, p CommentPayload) (outbox.Job, error) {
	return newJob(KindAddComment, DependencyCRM, interactionID, key, p)
}

// MoveRecordJob returns the crm.move_record job of the interaction, with
// idempotency key key.
func MoveRecordJob(interactionID, key string, p MovePayload) (outbox.Job, error) {
	return newJob(KindMoveRecord, DependencyCRM, interactionID, key, p)
}

// UploadJob returns the blob.upload job of a spooled recording: its
// dependency is SpoolDependency(p.Owner), its key UploadKey.
func UploadJob(p UploadPayload) outbox.Job {
	j, _ := newJob(KindBlobUpload, SpoolDependency(p.Owner), p.InteractionID, UploadKey(p.RecordingID), p) // strings and ints only
	return j
}

// AttachJob returns the crm.attach_recording job of a stored recording:
// its key is AttachKey.
func AttachJob(p AttachPayload) outbox.Job {
	j, _ := newJob(KindAttachRecording, DependencyCRM, p.InteractionID, AttachKey(p.RecordingID), p) // strings and ints only
	return j
}

func newJob(kind, dep, interactionID, key string, payload any) (outbox.Job, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return outbox.Job{}, fmt.Errorf("timeline: %s payload: %w", kind, err)
	}
	return outbox.Job{Kind: kind, Dependency: dep, InteractionID: interactionID, IdempotencyKey: key, Payload: b}, nil
}

// DecodeRecord reads a crm.create_record job's payload.
func DecodeRecord(j outbox.Job) (RecordPayload, error) {
	return decode[RecordPayload](j, j.Payload, "payload", KindCreateRecord)
}

// DecodeComment reads a crm.add_comment job's payload.
func DecodeComment(j outbox.Job) (CommentPayload, error) {
	return decode[CommentPayload](j, j.Payload, "payload", KindAddComment)
}

// DecodeMove reads a crm.move_record job's payload.
func DecodeMove(j outbox.Job) (MovePayload, error) {
	return decode[MovePayload](j, j.Payload, "payload", KindMoveRecord)
}

// DecodeUpload reads a blob.upload job's payload.
func DecodeUpload(j outbox.Job) (UploadPayload, error) {
	return decode[UploadPayload](j, j.Payload, "payload", KindBlobUpload)
}

// DecodeAttach reads a crm.attach_recording job's payload.
func DecodeAttach(j outbox.Job) (AttachPayload, error) {
	return decode[AttachPayload](j, j.Payload, "payload", KindAttachRecording)
}

// DecodeRecordResult reads the result of a crm.create_record,
// crm.add_comment or crm.move_record job.
func DecodeRecordResult(j outbox.Job) (RecordResult, error) {
	return decode[RecordResult](j, j.Result, "result", KindCreateRecord, KindAddComment, KindMoveRecord)
}

// DecodeUploadResult reads a done blob.upload job's result.
func DecodeUploadResult(j outbox.Job) (UploadResult, error) {
	return decode[UploadResult](j, j.Result, "result", KindBlobUpload)
}

// RequestHash returns the request_hash of a crm.create_record or
// crm.add_comment job's payload, "" for other kinds or a payload without
// one.
func RequestHash(j outbox.Job) string {
	var v struct {
		RequestHash string `json:"request_hash"`
	}
	if (j.Kind != KindCreateRecord && j.Kind != KindAddComment) || json.Unmarshal(j.Payload, &v) != nil {
		return ""
	}
	return v.RequestHash
}

// decode reads raw (j's payload or result) as a T, for a job of one of
// kinds. A job of another kind, or JSON that is not a T, is an error.
func decode[T any](j outbox.Job, raw json.RawMessage, what string, kinds ...string) (T, error) {
	var v T
	if !slices.Contains(kinds, j.Kind) {
		return v, fmt.Errorf("timeline: job %s is %s, not %s", j.ID, j.Kind, kinds[0])
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("timeline: %s %s of job %s: %w", j.Kind, what, j.ID, err)
	}
	return v, nil
}
