package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/internal/interactions"
	"github.com/holdline/holdline/outbox"
)

// Interactions runs an interaction's CRM writes through the durable outbox
// and reports what holdline has for it (internal/interactions.Service).
type Interactions interface {
	CreateRecord(ctx context.Context, interactionID, key string, r interactions.NewRecord) (interactions.Outcome, error)
	AddComment(ctx context.Context, interactionID, key string, c interactions.Comment) (interactions.Outcome, error)
	Get(ctx context.Context, interactionID string) (interactions.View, error)
}

// CreateRecord queues the interaction's record write and answers 201 when
// the CRM took it within the write budget, 202 with the job id otherwise.
func (s *Server) CreateRecord(ctx context.Context, req api.CreateRecordRequestObject) (api.CreateRecordResponseObject, error) {
	svc := s.opts.Services.Interactions
	if svc == nil {
		return nil, notConfigured("the outbox")
	}
	if req.Body == nil {
		return nil, invalidBody()
	}
	b := req.Body
	r := interactions.NewRecord{
		ContactID:   valueOf(b.ContactId),
		Phone:       valueOf(b.Phone),
		Subject:     b.Subject,
		Description: valueOf(b.Description),
		Queue:       valueOf(b.Queue),
	}
	if b.Channel != nil {
		r.Channel = string(*b.Channel)
	}
	if b.Fields != nil {
		r.Fields = *b.Fields
	}
	out, err := svc.CreateRecord(ctx, req.InteractionId, valueOf(req.Params.IdempotencyKey), r)
	if err != nil {
		return nil, err
	}
	return writeResponse(out), nil
}

// AddComment queues a comment on the interaction's record, like
// CreateRecord. A comment before any record write is 409.
func (s *Server) AddComment(ctx context.Context, req api.AddCommentRequestObject) (api.AddCommentResponseObject, error) {
	svc := s.opts.Services.Interactions
	if svc == nil {
		return nil, notConfigured("the outbox")
	}
	if req.Body == nil {
		return nil, invalidBody()
	}
	c := interactions.Comment{Body: req.Body.Body, Author: valueOf(req.Body.Author)}
	out, err := svc.AddComment(ctx, req.InteractionId, valueOf(req.Params.IdempotencyKey), c)
	if err != nil {
		return nil, err
	}
	return writeResponse(out), nil
}

// writeResponse is 201 or 202 with a WriteResult.
type writeResponse interactions.Outcome

func (r writeResponse) write(w http.ResponseWriter) error {
	body := api.WriteResult{Status: api.WriteResultStatus(r.Status), JobId: omitEmpty(r.JobID),
		RecordId: omitEmpty(r.RecordID), CommentId: omitEmpty(r.CommentID)}
	status := http.StatusCreated
	if r.Status != interactions.Created {
		status = http.StatusAccepted
	}
	return answerJSON(w, status, body)
}

func (r writeResponse) VisitCreateRecordResponse(w http.ResponseWriter) error { return r.write(w) }
func (r writeResponse) VisitAddCommentResponse(w http.ResponseWriter) error   { return r.write(w) }

// GetInteraction answers what holdline knows and has pending for one
// interaction; 404 when it has nothing.
func (s *Server) GetInteraction(ctx context.Context, req api.GetInteractionRequestObject) (api.GetInteractionResponseObject, error) {
	svc := s.opts.Services.Interactions
	if svc == nil {
		return nil, notConfigured("the outbox")
	}
	v, err := svc.Get(ctx, req.InteractionId)
	if err != nil {
		return nil, err
	}
	return interactionResponse(v), nil
}

// interactionWire is the spec's Interaction.
type interactionWire struct {
	InteractionID string          `json:"interaction_id"`
	RecordID      string          `json:"record_id,omitempty"`
	Jobs          []jobWire       `json:"jobs"`
	Recordings    []recordingWire `json:"recordings"`
}

// jobWire is the data plane's Job: no payload or key (they may hold
// personal data and are for operators, on the admin plane).
type jobWire struct {
	ID            string          `json:"id"`
	Kind          string          `json:"kind"`
	State         outbox.State    `json:"state"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	LastError     string          `json:"last_error,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`
}

type recordingWire struct {
	RecordingID string `json:"recording_id"`
	Object      string `json:"object,omitempty"`
	Size        int64  `json:"size"`
	CRC32C      string `json:"crc32c"`
	SHA256      string `json:"sha256,omitempty"`
	Stored      string `json:"stored"`
	CRM         string `json:"crm"`
	JobID       string `json:"job_id,omitempty"`
}

type interactionResponse interactions.View

func (r interactionResponse) VisitGetInteractionResponse(w http.ResponseWriter) error {
	out := interactionWire{InteractionID: r.InteractionID, RecordID: r.RecordID,
		Jobs: make([]jobWire, 0, len(r.Jobs)), Recordings: make([]recordingWire, 0, len(r.Recordings))}
	for _, j := range r.Jobs {
		jw := jobWire{ID: j.ID, Kind: j.Kind, State: j.State, Attempts: j.Attempts, CreatedAt: j.CreatedAt,
			UpdatedAt: j.UpdatedAt, LastError: j.LastError, Result: j.Result}
		if j.State == outbox.Pending {
			jw.NextAttemptAt = &j.NextAttemptAt
		}
		out.Jobs = append(out.Jobs, jw)
	}
	for _, rec := range r.Recordings {
		out.Recordings = append(out.Recordings, recordingWire(rec))
	}
	return answerJSON(w, http.StatusOK, out)
}

func answerJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

func valueOf[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func omitEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
