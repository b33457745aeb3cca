package main

import (
	"context"
	"time"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/outbox"
)

// The admin operations the CLI uses. Each returns the generated client's
// typed answer, errUnreachable when the sidecar did not answer, or an
// *apiError for a non-2xx answer.

func (c *adminClient) status(ctx context.Context) (*adminapi.GetStatusResponse, error) {
	r, err := c.api.GetStatusWithResponse(ctx)
	if err != nil {
		return nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	if _, err := decoded(r.HTTPResponse, r.JSON200); err != nil {
		return nil, err
	}
	return r, nil
}

func (c *adminClient) setBreaker(ctx context.Context, name string, body adminapi.SetBreakerJSONRequestBody) (*adminapi.DependencyStatus, error) {
	r, err := c.api.SetBreakerWithResponse(ctx, adminapi.SetBreakerParamsName(name), body)
	if err != nil {
		return nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	return decoded(r.HTTPResponse, r.JSON200)
}

func (c *adminClient) setEndpoint(ctx context.Context, name string, body adminapi.SetEndpointJSONRequestBody) (*adminapi.DependencyStatus, error) {
	r, err := c.api.SetEndpointWithResponse(ctx, adminapi.SetEndpointParamsName(name), body)
	if err != nil {
		return nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	return decoded(r.HTTPResponse, r.JSON200)
}

func (c *adminClient) listJobs(ctx context.Context, params *adminapi.ListJobsParams) ([]adminapi.Job, string, error) {
	r, err := c.api.ListJobsWithResponse(ctx, params)
	if err != nil {
		return nil, "", err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, "", err
	}
	page, err := decoded(r.HTTPResponse, r.JSON200)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if page.NextCursor != nil {
		next = *page.NextCursor
	}
	return page.Jobs, next, nil
}

func (c *adminClient) getJob(ctx context.Context, id string) (*adminapi.Job, error) {
	r, err := c.api.GetJobWithResponse(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return nil, err
	}
	return decoded(r.HTTPResponse, r.JSON200)
}

func (c *adminClient) replayJob(ctx context.Context, id, reason string) error {
	r, err := c.api.ReplayJobWithResponse(ctx, id, adminapi.ReplayJobJSONRequestBody{Reason: &reason})
	if err != nil {
		return err
	}
	return answered(r.HTTPResponse, r.Body)
}

func (c *adminClient) replayJobs(ctx context.Context, body adminapi.ReplayJobsJSONRequestBody) (replayed int, errs []string, err error) {
	r, err := c.api.ReplayJobsWithResponse(ctx, body)
	if err != nil {
		return 0, nil, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return 0, nil, err
	}
	res, err := decoded(r.HTTPResponse, r.JSON200)
	if err != nil {
		return 0, nil, err
	}
	if res.Errors != nil {
		errs = *res.Errors
	}
	return res.Replayed, errs, nil
}

func (c *adminClient) purgeJobs(ctx context.Context, body adminapi.PurgeJobsJSONRequestBody) (int, error) {
	r, err := c.api.PurgeJobsWithResponse(ctx, body)
	if err != nil {
		return 0, err
	}
	if err := answered(r.HTTPResponse, r.Body); err != nil {
		return 0, err
	}
	res, err := decoded(r.HTTPResponse, r.JSON200)
	if err != nil {
		return 0, err
	}
	return res.Purged, nil
}

// jobOf is a job of the admin API as the outbox package types it, so that
// online and offline (--data-dir) commands print jobs alike.
func jobOf(j adminapi.Job) outbox.Job {
	out := outbox.Job{
		ID: j.Id, Kind: j.Kind, State: outbox.State(j.State), Attempts: j.Attempts, CreatedAt: j.CreatedAt,
		Dependency: deref(j.Dependency), InteractionID: deref(j.InteractionId), IdempotencyKey: deref(j.IdempotencyKey),
		LastError: deref(j.LastError),
	}
	if j.Origin != nil {
		out.Origin = outbox.Origin{RequestID: deref(j.Origin.RequestId), TraceParent: deref(j.Origin.Traceparent), TraceState: deref(j.Origin.Tracestate)}
	}
	if j.Payload != nil {
		out.Payload = *j.Payload
	}
	if j.Result != nil {
		out.Result = *j.Result
	}
	for _, t := range []struct {
		from *time.Time
		to   *time.Time
	}{{j.NextAttemptAt, &out.NextAttemptAt}, {j.FirstFailedAt, &out.FirstFailedAt}, {j.UpdatedAt, &out.UpdatedAt}} {
		if t.from != nil {
			*t.to = *t.from
		}
	}
	return out
}
