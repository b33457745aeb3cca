// Package interactions is the HTTP-free flow behind an interaction's CRM
// writes: POST /v1/interactions/{id}/record and /comments, and what GET
// /v1/interactions/{id} shows.
//
// # One path to the CRM
//
// Every write becomes an outbox job, whatever the CRM is doing: the
// Service enqueues it durably (the bolt store fsyncs before Enqueue
// returns), then waits up to its write budget for the Dispatcher to finish
// it. Done in time: Created, with the CRM's ids. Otherwise Queued, with the
// job id, and at once when the job cannot finish in time: the CRM's
// breaker is open, the Dispatcher runs further behind its due jobs than
// the budget (Queue.Lag), an earlier job of the interaction is dead or
// failing, or a run of the job fails (the retry has its own schedule; the
// Dispatcher's OnRetry says so). Because the
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
// # Writes follow their record
//
// A record is created on the CRM endpoint active at the time (primary or
// secondary) and its job's result names that endpoint. Every later write
// to it (comments, appends, recording attachments, through
// Records.Writer) goes to that endpoint, never to the other one: record
// ids of two separate CRM instances mean different things. While that
// endpoint is not the active one the write is held (outbox.ErrHeld: state
// held, the reason in last_error, no attempt spent) and answered Queued
// at once. Failing back releases it. An operator who gives up on the
// endpoint moves the record (Service.MoveRecord, `holdline outbox replay
// --to`): it is re-created on the active endpoint, idempotently, before
// any held write goes there. With Endpoints.SharedRecords (config
// dependencies.crm.shared_records: one database behind two URLs) every
// write goes to the active endpoint. Results written before records
// remembered their endpoint are on the primary.
//
// # Job shapes
//
// The kinds, payloads, results and ordering rules of the jobs this
// package queues (crm.create_record, crm.add_comment, crm.move_record)
// belong to internal/timeline, the interaction job catalogue.
//
// Not a stable API: holdline is a binary, and this package serves it.
package interactions
