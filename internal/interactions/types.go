package interactions

import "github.com/holdline/holdline/adapters/crm"

// NewRecord is the record write CreateRecord queues, in the CRM's shape.
// The gateway uses this name and never imports adapters/crm.
type NewRecord = crm.NewRecord

// Comment is the comment AddComment queues, in the CRM's shape.
type Comment = crm.Comment
