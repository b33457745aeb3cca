package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/audit"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

// Auditor is the audit log (internal/audit.Log).
type Auditor interface {
	Record(ctx context.Context, actor, action, target, reason, result string, details map[string]any)
	Read(since time.Time, limit int) ([]audit.Entry, error)
}

// audit records an admin action by the request's actor. Nil records nothing.
func (s *Server) audit(ctx context.Context, action, target, reason, result string, details map[string]any) {
	if s.opts.Services.Audit != nil {
		s.opts.Services.Audit.Record(ctx, Actor(ctx), action, target, reason, result, details)
	}
}

func (s *Server) dependency(name string) (*resilience.Dependency, error) {
	if s.opts.Services.Dependencies == nil {
		return nil, notConfigured("dependency control")
	}
	d := s.opts.Services.Dependencies.Get(name)
	if d == nil {
		return nil, holdline.Errorf(holdline.ENOTFOUND, "name", "no dependency %s", name)
	}
	return d, nil
}

// SetBreaker forces a dependency's breaker open or closed, or returns it
// to auto, with who and why recorded in the audit log and in status.
func (s *Server) SetBreaker(ctx context.Context, req adminapi.SetBreakerRequestObject) (adminapi.SetBreakerResponseObject, error) {
	d, err := s.dependency(string(req.Name))
	if err != nil {
		return nil, err
	}
	mode, reason := string(req.Body.Mode), strings.TrimSpace(req.Body.Reason)
	if reason == "" {
		return nil, holdline.Errorf(holdline.EINVALID, "reason", "say why: the reason is kept in the audit log")
	}
	if err := d.SetBreakerMode(resilience.BreakerMode(mode), Actor(ctx), reason); err != nil {
		s.audit(ctx, "breaker.set", d.Name(), reason, err.Error(), map[string]any{"mode": mode})
		return nil, err
	}
	s.audit(ctx, "breaker.set", d.Name(), reason, "ok", map[string]any{"mode": mode})
	return adminapi.SetBreaker200JSONResponse(dependencyWire(d.Status())), nil
}

// SetEndpoint fails a dependency over to its secondary endpoint, or back.
func (s *Server) SetEndpoint(ctx context.Context, req adminapi.SetEndpointRequestObject) (adminapi.SetEndpointResponseObject, error) {
	d, err := s.dependency(string(req.Name))
	if err != nil {
		return nil, err
	}
	active, reason := string(req.Body.Active), strings.TrimSpace(req.Body.Reason)
	if reason == "" {
		return nil, holdline.Errorf(holdline.EINVALID, "reason", "say why: the reason is kept in the audit log")
	}
	if err := d.SetActiveEndpoint(active, Actor(ctx), reason); err != nil {
		s.audit(ctx, "endpoint.set", d.Name(), reason, err.Error(), map[string]any{"active": active})
		return nil, err
	}
	s.audit(ctx, "endpoint.set", d.Name(), reason, "ok", map[string]any{"active": active})
	return adminapi.SetEndpoint200JSONResponse(dependencyWire(d.Status())), nil
}

// GetAudit reads the audit log.
func (s *Server) GetAudit(ctx context.Context, req adminapi.GetAuditRequestObject) (adminapi.GetAuditResponseObject, error) {
	if s.opts.Services.Audit == nil {
		return nil, notConfigured("the audit log")
	}
	since, err := parseSince(req.Params.Since, s.now())
	if err != nil {
		return nil, holdline.Errorf(holdline.EINVALID, "since", "%v", err)
	}
	limit := 1000
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	entries, err := s.opts.Services.Audit.Read(since, limit)
	if err != nil {
		return nil, err
	}
	return auditResponse(entries), nil
}

type auditResponse []audit.Entry

func (r auditResponse) VisitGetAuditResponse(w http.ResponseWriter) error {
	if r == nil {
		r = auditResponse{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(map[string]any{"entries": []audit.Entry(r)})
}

// parseSince reads an optional "since" parameter (config.ParseSince).
func parseSince(v *string, now time.Time) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	return config.ParseSince(*v, now)
}
