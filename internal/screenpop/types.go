package screenpop

import "github.com/holdline/holdline/adapters/crm"

// Contact is the caller a pop found: the CRM's contact, as the gateway
// shows it. The gateway uses this name and never imports adapters/crm.
type Contact = crm.Contact

// Record is one of the contact's open records (cases, tickets).
type Record = crm.Record
