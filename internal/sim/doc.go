// Package sim holds simulators of holdline's dependencies for dev mode
// (`holdline serve --dev`), holdline-sim and tests. They are real HTTP
// servers' handlers backed by in-memory state, never mocks: a test drives
// an adapter against the simulator exactly as production drives it against
// the real service.
//
// The package must not import "testing": it is linked into the holdline
// binary. Test-only helpers belong in the adapters' xxxtest packages.
//
// # CRM
//
// CRM (NewCRM) serves three CRM dialects at once from one Handler, all
// backed by one ledger of contacts and records:
//
//   - generic, holdline's documented custom-CRM wire shape (see package
//     adapters/crm), under /contacts and /records;
//   - Salesforce REST API v60.0 under /services/data/v60.0/ (SOQL query,
//     Case upsert by the Holdline_Key__c external id, CaseComment and
//     ContentVersion); the SOQL parser understands only the queries
//     holdline sends;
//   - Zendesk Support API under /api/v2/ (users search, requested tickets,
//     tickets by external_id, ticket create and update, audits, uploads).
//
// The ledger is what exactly-once tests check: every object a client
// creates is there, in arrival order. The simulator deduplicates writes
// only where the real service would: an Idempotency-Key header (generic
// writes; Zendesk ticket creation only, as its Ticketing API introduction
// documents), an upsert on an external id (Salesforce Case). A client
// that sends no key and does no lookup before create leaves its duplicates
// visible in the ledger; the simulator never deduplicates by content.
//
// The Salesforce and Zendesk dialects enforce the vendors' documented
// rules, each naming its documentation section in a comment, so a request
// the real service would refuse or misread fails here too: Zendesk stores
// ticket.metadata as the audit's metadata.custom, searches phones as
// digits only and can rate-limit with 429 and Retry-After
// (CRMOptions.ZendeskPerMinute); Salesforce takes ContentVersion bytes as
// a multipart insert (up to 2 GB) and refuses a base64 JSON body past
// 50 MB with 413, refuses a CommentBody past 4,000 bytes, answers queries
// in batches with nextRecordsUrl, expires sessions (401
// INVALID_SESSION_ID), counts a daily API limit (403
// REQUEST_LIMIT_EXCEEDED) and reports it in Sforce-Limit-Info
// (CRMOptions.Salesforce).
//
// Inspection and drill routes live under /dev/crm/ (DevHandler):
//
//	GET  /dev/crm/contacts   {"contacts":[...]}
//	POST /dev/crm/contacts   add a contact {"name","email","phone","mobile"}
//	GET  /dev/crm/records    {"records":[...]} with comments and attachments in arrival order
//	GET  /dev/crm/mode       the current fault mode
//	POST /dev/crm/mode       {"mode":"ok|hang|503|flap|reset|lose_answer","scope":"all|read|write",
//	                          "latency":"50ms","hang_max":"10s","retry_after":"1s",
//	                          "flap_rate":0.5,"seed":1,"routes":["zendesk.update_ticket"]}
//	GET  /dev/crm/stats      {"hits":{"generic.lookup":3,...},"contacts":N,"records":N}
//	POST /dev/crm/tokens/expire  end every issued OAuth token (CRMOptions.OAuth): 204
//
// With CRMOptions.OAuth the simulator is also an OAuth 2.0 token endpoint
// at /services/oauth2/token (client_credentials, and Salesforce's
// jwt-bearer grant), issues tokens with a TTL and requires a live one on
// every dialect route (CRMOAuth).
//
// Faults apply to the dialect routes only, never to /dev/crm/.
package sim
