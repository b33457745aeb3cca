// Package capture is the recording flow, free of HTTP: a recording's bytes
// are streamed to the recording store (GCS first) while being teed to a
// local spool file, and only then does the CRM hear about it, through the
// outbox.
//
// # Upload
//
// Flow.Upload reads the body once, in 256 KiB pieces, and for each piece
// updates the CRC32C and SHA-256, counts it against recordings.max_bytes,
// writes it to the store's create-only Writer (a resumable GCS upload that
// holds one chunk in memory) and to a spool file in the data dir. The tee
// is what makes a GCS failure at any point lose nothing: when the store
// fails mid-stream (or its breaker is open before the first byte) the flow
// keeps draining the body into the spool only; the answer is then 202,
// after the spool file is fsynced and renamed and a blob.upload job is
// durable. When the store commits, the spool file is dropped unsynced and
// the answer is 201. Memory stays flat: one read buffer and one GCS chunk
// per upload.
//
// A Repr-Digest (RFC 9530, sha-256) is checked before the store commits:
// the last GCS chunk is only sent by Commit, so on a mismatch the flow
// cancels the resumable session instead, and GCS never creates the object;
// the spool file is removed. Nothing is stored and the answer is 400.
//
// CRC32C: storage v1.70 computes it while streaming and sends it with the
// final chunk; Commit also compares the server's CRC32C with the flow's
// own and deletes the object on a mismatch (fake-gcs-server does not check
// declared checksums on multi-chunk uploads, so this is the check tests
// rely on). A spooled recording's CRC32C is known before its upload job
// starts, so that upload declares it (SendCRC32C) and GCS rejects a
// mismatch itself.
//
// # Idempotency
//
// A recording id (X-Recording-Id, generated when absent) names one
// recording. Before storing, the flow looks for the interaction's
// blob.upload or crm.attach_recording job of that id: when found, it reads
// the body only to hash it, and answers 200 with the recording as it
// stands if the bytes are the same, or ErrConflict. Uploads of one id are
// serialized within the process; across processes (or after a crash
// between commit and enqueue) the store's create-only precondition decides
// and the stored object's size, CRC32C and SHA-256 are compared.
//
// # Jobs
//
// blob.upload moves a spooled recording into the store, then queues
// crm.attach_recording and removes the spool file. crm.attach_recording
// waits for the interaction's CRM record (the result of its
// crm.create_record job) and sends the recording in parts of at most
// recordings.attach_part_bytes, each streamed from the store with its own
// idempotency key. Both run per interaction, in order, after the record
// create. See Flow.Handlers; the kinds, payloads, keys and ordering rules
// belong to internal/timeline.
//
// Not a stable API: holdline is a binary, and this package serves it.
package capture
