// Package timeline owns the interaction job catalogue: the outbox jobs an
// interaction is made of, in the order they run. For each kind it holds
// the kind string, the payload and result types (with their JSON
// encoding), the outbox dependency the job waits on, its idempotency key,
// and the ordering rules between the kinds of one interaction. It also
// reads what those jobs say about a recording (Recording, Recordings).
//
// internal/interactions (the CRM writes) and internal/capture (the
// recording flow) enqueue and handle these jobs; both import this package
// and neither declares a kind or a payload of its own. This package
// imports outbox and the crm adapter's record and comment types, and
// nothing of the flows.
//
// # Kinds
//
//	kind                   queued by                     dependency
//	crm.create_record      interactions.CreateRecord     crm
//	crm.add_comment        interactions.AddComment       crm
//	crm.move_record        interactions.MoveRecord       crm
//	blob.upload            capture (store failed)        SpoolDependency(owner)
//	crm.attach_recording   capture (bytes stored), or    crm
//	                       the blob.upload handler
//
// # Job shapes
//
// crm.create_record: payload RecordPayload {"request_hash", "record":
// crm.NewRecord}, result RecordResult {"record_id", "endpoint"} (plus
// "comment_id" and "appended" for an append). crm.add_comment: payload
// CommentPayload {"request_hash", "comment": crm.Comment}, result
// {"record_id", "comment_id"}. crm.move_record: payload MovePayload {"to",
// "from": {"record_id", "endpoint"}, "reason"}, result {"record_id",
// "endpoint"}: the interaction's record from then on. blob.upload: payload
// UploadPayload, result UploadResult {"object", "stored",
// "attach_job_id"}. crm.attach_recording: payload AttachPayload, result
// AttachResult {"attachment_ids"}.
//
// # Ordering
//
// Every job carries its interaction id, and the outbox runs the jobs of
// one interaction one at a time, in enqueue order (a dead or held job
// holds the ones after it). On top of that order:
//
//   - The interaction's CRM record is the result of its first done
//     crm.create_record job, replaced by the result of each later done
//     crm.move_record job (SetsRecord). A later crm.create_record appends
//     to that record instead of creating a second one.
//   - crm.add_comment, crm.attach_recording and crm.move_record write to
//     that record and run only once it exists; until then their handlers
//     answer "retry later" (interactions.Records.Writer).
//   - crm.add_comment is accepted only behind a crm.create_record job of
//     its interaction (CanQueue): queued before it, the comment
//     would head the interaction and hold the record write sent after it.
//   - blob.upload runs only on the sidecar whose spool holds the bytes
//     (SpoolDependency) and, once the bytes are stored, queues the
//     recording's crm.attach_recording; a recording's attach job
//     supersedes its upload job (Recordings).
//
// # Compatibility
//
// Jobs outlive the binary that queued them: a job queued by one version
// runs on the next. Kind strings, payload and result field names and
// idempotency key shapes are therefore fixed; a new field must be
// optional (the zero value keeps the old meaning), and a renamed one is a
// new kind.
//
// Not a stable API: holdline is a binary, and this package serves it.
package timeline
