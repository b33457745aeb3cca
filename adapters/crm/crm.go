// Package crm is the contract holdline has with a CRM, and its kinds:
// generic (a custom REST CRM mapped by config), salesforce and zendesk.
//
// An adapter only speaks its CRM's HTTP API. It applies no resilience
// policies itself: callers run it through the CRM dependency's policy chain
// (internal/resilience), and it uses the *http.Client that dependency
// hands out, so faults, the egress allowlist and failover apply beneath it.
//
// Not a stable API: holdline is a binary, and this package serves it.
package crm

import (
	"context"
	"errors"
	"io"
	"time"
)

// Contact is a CRM contact (Salesforce Contact, Zendesk user, custom
// account) found for a phone number.
type Contact struct {
	ID     string         `json:"id"`
	Name   string         `json:"name,omitempty"`
	Email  string         `json:"email,omitempty"`
	Phone  string         `json:"phone,omitempty"`
	URL    string         `json:"url,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

// Record is an open CRM record (case, ticket) of a contact.
type Record struct {
	ID        string    `json:"id"`
	Subject   string    `json:"subject,omitempty"`
	Status    string    `json:"status,omitempty"`
	URL       string    `json:"url,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Lookup is what a phone lookup found. A number the CRM does not know is a
// Lookup with a nil Contact and a nil error: not finding someone is an
// answer, not a failure, and must not count against the breaker.
type Lookup struct {
	Contact *Contact `json:"contact"`
	Records []Record `json:"records"`
}

// NewRecord is a record (case, ticket) to create for an interaction.
type NewRecord struct {
	InteractionID string         `json:"interaction_id"`
	ContactID     string         `json:"contact_id,omitempty"`
	Phone         string         `json:"phone,omitempty"`
	Subject       string         `json:"subject"`
	Description   string         `json:"description,omitempty"`
	Channel       string         `json:"channel,omitempty"`
	Queue         string         `json:"queue,omitempty"`
	Fields        map[string]any `json:"fields,omitempty"`
}

// Comment is a comment to add to a record.
type Comment struct {
	Body   string `json:"body"`
	Author string `json:"author,omitempty"`
}

// Attachment is one part of a file to attach to a record. Large
// recordings are sent as several parts, in order.
type Attachment struct {
	Name        string
	ContentType string
	// Part is 1-based; Parts is the total number of parts.
	Part, Parts int
	Size        int64
	Body        io.Reader
	// Link, when set, is attached instead of bytes (a signed URL).
	Link string
}

// Client is a CRM. Implementations are safe for concurrent use.
//
// Every write takes an idempotency key. An implementation must make a
// repeated write with the same key return the first write's id instead of
// creating a second object, using whatever its CRM supports (an external id
// field, a dedupe header, or a lookup before create). The outbox relies on
// this for exactly-once delivery across crashes.
//
// Errors: *StatusError for an HTTP answer that is not a success, transport
// errors as they come, and ErrNotFound when a write names a record that
// does not exist.
type Client interface {
	// FindByPhone looks a contact and its open records up by E.164 number.
	FindByPhone(ctx context.Context, e164 string) (Lookup, error)
	// CreateRecord creates a record and returns its id.
	CreateRecord(ctx context.Context, in NewRecord, idemKey string) (string, error)
	// AddComment adds a comment to a record and returns its id.
	AddComment(ctx context.Context, recordID string, c Comment, idemKey string) (string, error)
	// AttachFile attaches one part of a file to a record and returns its id.
	AttachFile(ctx context.Context, recordID string, a Attachment, idemKey string) (string, error)
}

// ErrNotFound is returned by writes that name a record the CRM does not have.
var ErrNotFound = errors.New("crm: not found")

// PartLimiter is implemented by a Client whose CRM limits the size of one
// attached file: AttachFile refuses a part larger than MaxPartBytes.
type PartLimiter interface {
	MaxPartBytes() int64
}

// MaxPartBytes returns the largest part to send to c: configured
// (recordings.attach_part_bytes), lowered to c's own limit when c is a
// PartLimiter (Salesforce 2 GB, Zendesk 50 MB).
func MaxPartBytes(c Client, configured int64) int64 {
	if pl, ok := c.(PartLimiter); ok {
		if m := pl.MaxPartBytes(); m > 0 && m < configured {
			return m
		}
	}
	return configured
}

// SecretReloader is a Client whose credentials may come from files
// (auth.secret_file, client_secret_file, private_key_file). The files are
// re-read when they change, checked at most every auth.file_poll;
// ReloadSecrets makes the next call re-read them at once (SIGHUP). Every
// adapter New returns implements it.
type SecretReloader interface {
	ReloadSecrets()
}
