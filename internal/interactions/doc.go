// Package interactions is the HTTP-free flow behind an interaction's CRM
// writes: POST /v1/interactions/{id}/record and /comments, and what GET
// /v1/interactions/{id} shows.
//
// # One path to the CRM
//
// Every write becomes an outbox job, whatever the CRM is doing: the
// Service enqueues it durably (the bolt store fsyncs before Enqueue
// returns), then waits up to its write budget for the Dispatcher to finish
// it. Done in time: Created, with the CRM's ids. Otherwise, or at once
// when the CRM's breaker is open: Queued, with the job id. Because the
// Dispatcher is the only caller of the CRM's write operations, the two
// answers share one ordering (jobs of an interaction run one at a time in
// enqueue order) and one idempotency story (the job's key is sent to the
// CRM), so a 201 and a 202 differ only in when the CRM saw the write.
//
// # Idempotency keys
//
// A write's key is the client's Idempotency-Key, or one derived from the
// request: "record:" + interaction + ":" + hash(request) for a record,
// "comment:" + interaction + ":" + hash(author, body) for a comment. A
// repeated write with a key the outbox holds returns the first answer
// (Created with the stored ids once its job is done, Queued with the job
// id otherwise) and never makes a second job; the same key with a
// different request is ErrConflict. Derived keys include the request hash
// so that two different writes without a key are two writes, and a retry
// of one of them is the same write. Two comments with the same author and
// body on one interaction, sent without keys, are therefore one comment;
// send keys to tell them apart.
//
// # Creates, or appends to
//
// An interaction has at most one CRM record. A record write for an
// interaction whose record already exists (an earlier record job is done)
// appends to it instead: its subject and description are added as a
// comment, sent with the job's key, and the job's result names the
// existing record with "appended": true. A comment needs its interaction's
// record write first: a comment for an interaction without a record job
// is ErrNoRecord, because the comment would otherwise sit at the head of
// the interaction and hold the record write sent after it.
//
// # Job shapes
//
// crm.create_record: payload {"request_hash", "record": crm.NewRecord},
// result {"record_id"} (plus "comment_id" and "appended" for an append).
// Other handlers (the recording attach) read the record id from that
// result. crm.add_comment: payload {"request_hash", "comment":
// crm.Comment}, result {"record_id", "comment_id"}.
//
// Not a stable API: holdline is a binary, and this package serves it.
package interactions
