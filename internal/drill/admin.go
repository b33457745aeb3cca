package drill

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
)

// adminAPI is the sidecar's admin API through the client generated from
// openapi/admin.yaml. A non-2xx answer is an *apiError carrying the
// problem+json body; a transport failure is returned as the client's
// error. dev reaches the dev-mode routes outside the spec (/dev/idp).
type adminAPI struct {
	base string
	c    *adminapi.ClientWithResponses
	dev  *api
}

// newAdminAPI returns the admin client of the sidecar at base, sending
// token (when set) as a bearer token.
func newAdminAPI(base, token string, hc *http.Client) (*adminAPI, error) {
	c, err := adminapi.NewClientWithResponses(base, adminapi.WithHTTPClient(hc),
		adminapi.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", base, err)
	}
	return &adminAPI{base: base, c: c, dev: &api{base: base, token: token, hc: hc}}, nil
}

// answered returns nil for a 2xx answer and an *apiError for any other.
func answered(hr *http.Response, body []byte) error {
	if hr.StatusCode/100 == 2 {
		return nil
	}
	return newAPIError(hr.Request.Method, hr.Request.URL.EscapedPath(), hr.StatusCode, body)
}

// decoded returns v, or an error naming the call when a 2xx answer had no
// body the spec describes (v is nil).
func decoded[T any](hr *http.Response, v *T) (*T, error) {
	if v == nil {
		return nil, fmt.Errorf("%s %s: %s: the answer is not the JSON the admin spec describes", hr.Request.Method, hr.Request.URL.EscapedPath(), hr.Status)
	}
	return v, nil
}

// status reads GET /v1/status.
func (a *adminAPI) status(ctx context.Context) (*adminapi.Status, error) {
	r, err := a.c.GetStatusWithResponse(ctx)
	if err != nil {
		return nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	return decoded(r.HTTPResponse, r.JSON200)
}

// listFaults checks GET /v1/admin/faults answers (the token works and
// drills are on).
func (a *adminAPI) listFaults(ctx context.Context) error {
	r, err := a.c.ListFaultsWithResponse(ctx)
	if err != nil {
		return err
	}
	return answered(r.HTTPResponse, r.Body)
}

// addFault injects f with reason.
func (a *adminAPI) addFault(ctx context.Context, f *FaultAction, reason string) (*adminapi.Fault, error) {
	req := adminapi.FaultRequest{
		Dependency: adminapi.FaultRequestDependency(f.Dependency),
		Duration:   f.Duration.String(),
		Reason:     &reason,
	}
	if f.Latency > 0 {
		l := f.Latency.String()
		req.Latency = &l
	}
	if f.ErrorRate > 0 {
		r := float32(f.ErrorRate)
		req.ErrorRate = &r
	}
	if f.Status != 0 {
		req.Status = &f.Status
	}
	if f.Reset {
		req.Reset = &f.Reset
	}
	if f.Endpoint != "" {
		ep := adminapi.FaultRequestEndpoint(f.Endpoint)
		req.Endpoint = &ep
	}
	r, err := a.c.AddFaultWithResponse(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	return decoded(r.HTTPResponse, r.JSON201)
}

// deleteFault removes fault id.
func (a *adminAPI) deleteFault(ctx context.Context, id string) error {
	r, err := a.c.DeleteFaultWithResponse(ctx, id)
	if err != nil {
		return err
	}
	return answered(r.HTTPResponse, r.Body)
}

// setBreaker forces dep's breaker to mode (open, closed or auto).
func (a *adminAPI) setBreaker(ctx context.Context, dep, mode, reason string) error {
	r, err := a.c.SetBreakerWithResponse(ctx, adminapi.SetBreakerParamsName(dep),
		adminapi.SetBreakerJSONRequestBody{Mode: adminapi.SetBreakerJSONBodyMode(mode), Reason: reason})
	if err != nil {
		return err
	}
	return answered(r.HTTPResponse, r.Body)
}

// setEndpoint moves dep's new calls to its primary or secondary endpoint.
func (a *adminAPI) setEndpoint(ctx context.Context, dep, active, reason string) error {
	r, err := a.c.SetEndpointWithResponse(ctx, adminapi.SetEndpointParamsName(dep),
		adminapi.SetEndpointJSONRequestBody{Active: adminapi.SetEndpointJSONBodyActive(active), Reason: reason})
	if err != nil {
		return err
	}
	return answered(r.HTTPResponse, r.Body)
}

// audit reads up to limit audit entries since since.
func (a *adminAPI) audit(ctx context.Context, since time.Time, limit int) ([]adminapi.AuditEntry, error) {
	s := since.UTC().Format(time.RFC3339Nano)
	r, err := a.c.GetAuditWithResponse(ctx, &adminapi.GetAuditParams{Since: &s, Limit: &limit})
	if err != nil {
		return nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	page, err := decoded(r.HTTPResponse, r.JSON200)
	if err != nil {
		return nil, err
	}
	return page.Entries, nil
}

// outboxOf is the report's view of the status's outbox section.
func outboxOf(o *adminapi.OutboxStatus) *outboxStatus {
	if o == nil {
		return nil
	}
	return &outboxStatus{Pending: o.Pending, Inflight: o.Inflight, Dead: o.Dead, Blocked: o.Blocked, OldestPendingAge: o.OldestPendingAgeSeconds}
}
