package gateway

import (
	"context"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/gateway/api"
)

// VerifyToken answers POST /v1/identity/verify in the RFC 7662 shape: an
// invalid token, or one that cannot be verified because the provider is
// down, is a 200 with active false and reasons, never an error. An empty
// token is a 400 naming the field.
func (s *Server) VerifyToken(ctx context.Context, req api.VerifyTokenRequestObject) (api.VerifyTokenResponseObject, error) {
	svc := s.opts.Services.Identity
	if svc == nil {
		return nil, notConfigured("identity")
	}
	if req.Body == nil {
		return nil, invalidBody()
	}
	if req.Body.Token == "" {
		return nil, holdline.Errorf(holdline.EINVALID, "token", "must not be empty")
	}
	vd := svc.Verify(ctx, req.Body.Token)
	out := api.VerifyToken200JSONResponse{
		Active:   vd.Active,
		Degraded: vd.Degraded,
		Source:   api.TokenVerdictSource(vd.Source),
		Reasons:  vd.Reasons,
	}
	if out.Reasons == nil {
		out.Reasons = []string{}
	}
	if vd.Subject != "" {
		out.Subject = &vd.Subject
	}
	if !vd.ExpiresAt.IsZero() {
		t := vd.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	if len(vd.Scopes) > 0 {
		out.Scopes = &vd.Scopes
	}
	if vd.Claims != nil {
		out.Claims = &vd.Claims
	}
	return out, nil
}
