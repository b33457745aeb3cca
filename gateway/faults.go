package gateway

import (
	"context"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

func (s *Server) faults() (*resilience.Faults, error) {
	if s.opts.Services.Faults == nil {
		return nil, holdline.Errorf(holdline.ENOTFOUND, "", "fault injection is off on this sidecar (drills.enabled: false)")
	}
	return s.opts.Services.Faults, nil
}

// ListFaults lists the active drill faults.
func (s *Server) ListFaults(ctx context.Context, _ adminapi.ListFaultsRequestObject) (adminapi.ListFaultsResponseObject, error) {
	f, err := s.faults()
	if err != nil {
		return nil, err
	}
	return adminapi.ListFaults200JSONResponse{Faults: faultsWire(f.List())}, nil
}

// AddFault injects a drill fault beneath a dependency's policy chain.
func (s *Server) AddFault(ctx context.Context, req adminapi.AddFaultRequestObject) (adminapi.AddFaultResponseObject, error) {
	f, err := s.faults()
	if err != nil {
		return nil, err
	}
	b := req.Body
	ft := resilience.Fault{Dependency: string(b.Dependency), Actor: Actor(ctx)}
	if ft.Duration, err = config.ParseDuration(b.Duration); err != nil {
		return nil, holdline.Errorf(holdline.EINVALID, "duration", "%v", err)
	}
	if b.Latency != nil {
		if ft.Latency, err = config.ParseDuration(*b.Latency); err != nil {
			return nil, holdline.Errorf(holdline.EINVALID, "latency", "%v", err)
		}
	}
	if b.ErrorRate != nil {
		ft.ErrorRate = float64(*b.ErrorRate)
	}
	if b.Status != nil {
		ft.Status = *b.Status
	}
	if b.Reset != nil {
		ft.Reset = *b.Reset
	}
	if b.Endpoint != nil {
		ft.Endpoint = string(*b.Endpoint)
	}
	added, err := f.Add(ft)
	if err != nil {
		return nil, err
	}
	reason := ""
	if b.Reason != nil {
		reason = *b.Reason
	}
	s.audit(ctx, "fault.add", added.Dependency, reason, "ok", map[string]any{"fault": added})
	return adminapi.AddFault201JSONResponse(faultWire(added)), nil
}

// DeleteFault removes a drill fault.
func (s *Server) DeleteFault(ctx context.Context, req adminapi.DeleteFaultRequestObject) (adminapi.DeleteFaultResponseObject, error) {
	f, err := s.faults()
	if err != nil {
		return nil, err
	}
	if !f.Delete(req.Id) {
		return nil, holdline.Errorf(holdline.ENOTFOUND, "", "no active fault %s", req.Id)
	}
	s.audit(ctx, "fault.delete", req.Id, "", "ok", nil)
	return adminapi.DeleteFault204Response{}, nil
}

func faultWire(f resilience.Fault) adminapi.Fault {
	out := adminapi.Fault{
		Id: f.ID, Dependency: f.Dependency, Duration: f.Duration.String(),
		CreatedAt: f.CreatedAt.UTC(), ExpiresAt: f.ExpiresAt.UTC(),
	}
	if f.Latency > 0 {
		l := f.Latency.String()
		out.Latency = &l
	}
	if f.ErrorRate > 0 {
		r := float32(f.ErrorRate)
		out.ErrorRate = &r
	}
	if f.Status != 0 {
		out.Status = &f.Status
	}
	if f.Reset {
		out.Reset = &f.Reset
	}
	if f.Actor != "" {
		out.Actor = &f.Actor
	}
	if f.Endpoint != "" {
		out.Endpoint = &f.Endpoint
	}
	return out
}

func faultsWire(fs []resilience.Fault) []adminapi.Fault {
	out := make([]adminapi.Fault, 0, len(fs))
	for _, f := range fs {
		out = append(out, faultWire(f))
	}
	return out
}
