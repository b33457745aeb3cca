// # Choosing a kind
//
// New picks the adapter named by config.CRM.Kind: Generic, Salesforce or
// Zendesk. Each one calls endpoint() for every request, so a failover
// applies to the next call; uses only the *http.Client it is given; applies
// no timeouts, retries or breakers of its own; and honours ctx. Errors are
// wrapped with the operation ("crm: create ticket: ...") and never carry a
// request URL, which may hold a phone number. A non-2xx answer is a
// *upstream.StatusError with Code and the parsed Retry-After; a write
// naming a missing record is also ErrNotFound; a phone nobody has is a
// Lookup with a nil Contact and a nil error.
//
// # Idempotent writes
//
// Every write takes an idempotency key; with the same key, a repeated
// write returns the first write's id and creates nothing. An empty key
// turns this off (Salesforce refuses an empty key for CreateRecord, since
// the key is its upsert key).
//
//   - generic: every write sends the key as the Idempotency-Key header.
//     The custom CRM MUST honour it: keep the key with the object it
//     created and, for a repeated key, answer the first object's id
//     without creating another (as the holdline simulator does). Keys are
//     retried by holdline's outbox for up to its max_elapsed (24h by
//     default), so keep them at least that long.
//   - salesforce: CreateRecord upserts the Case on the external id field
//     Holdline_Key__c (PATCH sobjects/Case/Holdline_Key__c/{key}), so a
//     replay updates the same Case (201 created, 200 updated). The org
//     must have that field on Case: Text(255), External ID, Unique. A
//     replay re-sends Subject and Description, so an agent's edit to them
//     made between a lost answer and its replay is overwritten.
//     AddComment ends each CaseComment body with a marker line
//     "[holdline:KEY]" ("[holdline:KEY part I/N]" for a comment split in
//     parts) and first reads every query batch of the case's comments for
//     it (CommentBody cannot be filtered in SOQL); only missing parts are
//     created. AttachFile sets ContentVersion.ReasonForChange to
//     "holdline:KEY" and first queries ContentVersion by it. Both
//     lookups run before the create, so two concurrent attempts with one
//     key could both create; holdline's outbox runs an interaction's jobs
//     one at a time.
//   - zendesk: CreateRecord sets the ticket's external_id to the key and
//     first lists tickets with that external_id; the create also sends
//     Idempotency-Key, which Zendesk documents for ticket creation
//     (Ticketing API introduction, "Idempotency") and honours for two
//     hours, and which covers concurrent attempts. AddComment and
//     AttachFile send the key as ticket.metadata.holdline_key, which
//     Zendesk stores on the update's audit as metadata.custom.holdline_key
//     (Tickets reference, "Setting Metadata"), and first read the
//     ticket's newest audits for it. Updates carry no Idempotency-Key:
//     Zendesk does not document it there. A replayed attachment may leave
//     an unused upload behind, which Zendesk expires.
//
// # Generic wire shapes
//
// The generic kind speaks to a custom CRM through config.GenericCRM. URL
// templates are paths from the active endpoint with {phone},
// {contact_id} and {record_id} placeholders, which are path-escaped in the
// path and query-escaped in the query ("+14155550100" is sent as
// %2B14155550100 after the "?"). Authentication is config.CRMAuth: none,
// a header (e.g. X-Api-Key), basic or bearer, or an OAuth 2.0 token the
// adapter fetches and renews (client_credentials, jwt_bearer; see
// credentials.go), for every kind.
//
// Lookup: GET lookup_url (default /contacts?phone={phone}). The answer is
// any of
//
//	{"contacts": [{contact}, ...]}
//	[{contact}, ...]
//	{"list": [{contact}, ...], "total": N}     (EspoCRM)
//	{contact}
//
// and the first object with an id is the contact. A 404, an empty list or
// no id means not found. A contact is
//
//	{"id": "101", "name": "Ada Lovelace", "email": "ada@example.com",
//	 "phone": "+14155550100", "url": "https://crm.example.com/contacts/101"}
//
// where ids may be strings or numbers, and every name can be remapped by
// config Fields, dotted paths allowed: {"name": "attributes.full_name"}.
// Fields keys other than id, name, email, phone and url are copied into
// Contact.Fields (e.g. {"tier": "account.tier"}). When the contact object
// has a "records" array, those are its open records; otherwise the adapter
// gets records_url (default /contacts/{contact_id}/records?status=open),
// which answers {"records": [{record}, ...]}, a bare array or {"list":
// [...]}, where a record is
//
//	{"id": "1001", "subject": "Billing question", "status": "open",
//	 "url": "https://crm.example.com/records/1001",
//	 "updated_at": "2026-11-22T10:00:00Z"}
//
// with RFC 3339 updated_at, remappable with "record.id", "record.subject",
// "record.status", "record.url" and "record.updated_at" Fields keys. The
// CRM decides what is open: the adapter does not filter. A 404 on
// records_url is a contact with no records; with records_url empty, only
// embedded records are read.
//
// Create a record: POST create_record_url (default /records) with
// Idempotency-Key and the JSON of NewRecord:
//
//	{"interaction_id": "...", "contact_id": "101", "phone": "+14155550100",
//	 "subject": "...", "description": "...", "channel": "voice",
//	 "queue": "...", "fields": {...}}
//
// The answer (200 or 201) is {"id": "1004"} (or the record object; its id
// is read with the record.id mapping).
//
// Add a comment: POST comment_url (default /records/{record_id}/comments)
// with Idempotency-Key and {"body": "...", "author": "..."}; the answer is
// {"id": "..."} (an empty 2xx answer gives an empty id). 404 means the
// record does not exist: ErrNotFound.
//
// Attach a file part: POST attach_url (default
// /records/{record_id}/attachments) with Idempotency-Key and the part's
// raw bytes as the body (Content-Length when the size is known), and
//
//	Content-Type: audio/wav
//	Content-Disposition: attachment; filename="call-123.wav"
//	Holdline-Part: 1
//	Holdline-Parts: 2
//
// A link is attached instead of bytes with an empty body and
// "Holdline-Link: https://...". Parts of one file are sent in order, each
// with its own key. The answer is {"id": "..."}; 404 is ErrNotFound.
//
// # Salesforce
//
// REST API v60.0 with a bearer access token, normally from the OAuth 2.0
// JWT bearer flow (auth.type jwt_bearer). FindByPhone runs the SOQL
// query SELECT Id, Name, Email, Phone FROM Contact WHERE Phone = 'N' OR
// MobilePhone = 'N' LIMIT 1, so contacts must store numbers in E.164
// (Salesforce matches phone fields as stored), then the contact's open
// Cases (IsClosed = false), newest first, at most 50. Literals are SOQL
// escaped; every query follows nextRecordsUrl until done. Records are
// Cases, comments private CaseComments (CommentBody holds 4,000 bytes: a
// longer comment is split in order, see above; the author is a line
// before the marker), attachments ContentVersions published to the Case
// (FirstPublishLocationId) as a multipart/form-data insert (part
// entity_content with the fields as JSON, then part VersionData with the
// bytes, streamed; REST API Developer Guide, "Insert or Update Blob Data":
// 2 GB per file, where a base64 JSON body would be limited to 37.5 MB),
// or ContentUrl for a link, with "holdline recording part N of M" as
// Description. A 400 whose errorCode is INVALID_CROSS_REFERENCE_KEY,
// ENTITY_IS_DELETED, MALFORMED_ID or NOT_FOUND, or a 404, on a comment or
// attachment is ErrNotFound. 403 REQUEST_LIMIT_EXCEEDED is ErrRequestLimit
// and 401 INVALID_SESSION_ID is ErrSessionExpired, both with a Transient
// StatusError, so they are retried rather than dead-lettered. Every
// answer's Sforce-Limit-Info is kept (Salesforce.APIUsage, RegisterUsage).
// The Case Description ends with a line "holdline interaction: ID";
// NewRecord.Fields are sent as Case fields; Channel maps to Origin (voice:
// Phone, chat: Web, email: Email).
//
// # Zendesk
//
// Support API v2 with basic auth (the agent email, to which "/token" is
// added, and an API token) or a bearer OAuth token. FindByPhone searches
// users with phone:DIGITS, the number without its "+" as the caller-lookup
// guide ("Retrieving the Zendesk user id of a caller") asks, takes the
// first, and lists its requested tickets, newest first, one page, keeping
// new, open, pending and hold. Records are tickets (the description is the
// first, private comment; tags ["holdline"]; metadata
// holdline_interaction), comments are private comments added with PUT
// tickets/{id}.json (the author goes to metadata holdline_author),
// attachments are an upload (uploads.json, raw body, 50 MB at most)
// referenced by a private comment. ContactID must be a Zendesk user id.
//
// docs/crm.md lists, per kind, the calls, the permissions the integration
// user needs and how holdline behaves at each documented limit.
package crm
