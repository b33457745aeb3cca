package gateway

import (
	"context"
	"net/http"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/internal/resilience"
)

// Services are the flows behind the data-plane operations. A nil flow is
// not configured on this sidecar; its operations answer 503.
type Services struct {
	// ScreenPop answers POST /v1/screen-pop.
	ScreenPop ScreenPopper
	// DefaultRegion reads numbers without a country code.
	DefaultRegion string
	// Faults, when drills are enabled, backs /v1/admin/faults.
	Faults *resilience.Faults
	// Audit records admin actions and serves /v1/admin/audit.
	Audit Auditor
	// Dependencies backs breaker and failover controls.
	Dependencies *resilience.Set
	// Dialogflow answers detect-intent and GET /v1/dialogflow/agents.
	Dialogflow DialogflowService
}

func notConfigured(what string) *Problem {
	return newProblem(http.StatusServiceUnavailable, "unavailable", what+" is not configured on this sidecar")
}

func (s *Server) GetInteraction(ctx context.Context, req api.GetInteractionRequestObject) (api.GetInteractionResponseObject, error) {
	return nil, notConfigured("the outbox")
}

func (s *Server) CreateRecord(ctx context.Context, req api.CreateRecordRequestObject) (api.CreateRecordResponseObject, error) {
	return nil, notConfigured("the outbox")
}

func (s *Server) AddComment(ctx context.Context, req api.AddCommentRequestObject) (api.AddCommentResponseObject, error) {
	return nil, notConfigured("the outbox")
}

func (s *Server) UploadRecording(ctx context.Context, req api.UploadRecordingRequestObject) (api.UploadRecordingResponseObject, error) {
	return nil, notConfigured("recording capture")
}

func (s *Server) VerifyToken(ctx context.Context, req api.VerifyTokenRequestObject) (api.VerifyTokenResponseObject, error) {
	return nil, notConfigured("identity")
}

func (s *Server) ListJobs(ctx context.Context, req adminapi.ListJobsRequestObject) (adminapi.ListJobsResponseObject, error) {
	return nil, notConfigured("the outbox")
}

func (s *Server) GetJob(ctx context.Context, req adminapi.GetJobRequestObject) (adminapi.GetJobResponseObject, error) {
	return nil, notConfigured("the outbox")
}

func (s *Server) ReplayJob(ctx context.Context, req adminapi.ReplayJobRequestObject) (adminapi.ReplayJobResponseObject, error) {
	return nil, notConfigured("the outbox")
}

func (s *Server) ReplayJobs(ctx context.Context, req adminapi.ReplayJobsRequestObject) (adminapi.ReplayJobsResponseObject, error) {
	return nil, notConfigured("the outbox")
}

func (s *Server) PurgeJobs(ctx context.Context, req adminapi.PurgeJobsRequestObject) (adminapi.PurgeJobsResponseObject, error) {
	return nil, notConfigured("the outbox")
}
