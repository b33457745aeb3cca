package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/outbox"
)

// Outbox is the operator's view of the durable queue: reads from the
// store, replays and purges that wake the dispatcher. Get, Replay and
// ReplayTo return holdline errors (ENOTFOUND, ECONFLICT) for what the
// operator must fix.
type Outbox interface {
	List(ctx context.Context, f outbox.Filter) ([]outbox.Job, string, error)
	Get(ctx context.Context, id string) (outbox.Job, error)
	Replay(ctx context.Context, id string) (outbox.Job, error)
	// ReplayTo re-creates the record of the job's interaction on CRM
	// endpoint to ("primary" or "secondary") before its held writes go
	// there, then replays the job.
	ReplayTo(ctx context.Context, id, to, reason string) (outbox.Job, error)
	Purge(ctx context.Context, state outbox.State, olderThan time.Time) (int, error)
}

// maxReplay caps one POST /v1/admin/outbox/replay.
const maxReplay = 10000

func (s *Server) outbox() (Outbox, error) {
	if s.opts.Services.Outbox == nil {
		return nil, notConfigured("the outbox")
	}
	return s.opts.Services.Outbox, nil
}

// ListJobs lists jobs, filtered, one page at a time.
func (s *Server) ListJobs(ctx context.Context, req adminapi.ListJobsRequestObject) (adminapi.ListJobsResponseObject, error) {
	ob, err := s.outbox()
	if err != nil {
		return nil, err
	}
	p := req.Params
	since, err := parseSince(p.Since, s.now())
	if err != nil {
		return nil, holdline.Errorf(holdline.EINVALID, "since", "%v", err)
	}
	f := outbox.Filter{Kind: valueOf(p.Kind), Interaction: valueOf(p.Interaction), Since: since,
		Limit: valueOf(p.Limit), Cursor: valueOf(p.Cursor)}
	if p.State != nil {
		f.State = outbox.State(*p.State)
	}
	jobs, next, err := ob.List(ctx, f)
	if err != nil {
		return nil, err
	}
	if jobs == nil {
		jobs = []outbox.Job{}
	}
	body := map[string]any{"jobs": jobs}
	if next != "" {
		body["next_cursor"] = next
	}
	return adminJSON{status: http.StatusOK, body: body}, nil
}

// GetJob returns one job with its payload and history.
func (s *Server) GetJob(ctx context.Context, req adminapi.GetJobRequestObject) (adminapi.GetJobResponseObject, error) {
	ob, err := s.outbox()
	if err != nil {
		return nil, err
	}
	j, err := ob.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return adminJSON{status: http.StatusOK, body: j}, nil
}

// ReplayJob makes one job pending and due now, attempts reset. Audited.
func (s *Server) ReplayJob(ctx context.Context, req adminapi.ReplayJobRequestObject) (adminapi.ReplayJobResponseObject, error) {
	ob, err := s.outbox()
	if err != nil {
		return nil, err
	}
	reason := ""
	if req.Body != nil {
		reason = strings.TrimSpace(valueOf(req.Body.Reason))
	}
	j, err := ob.Replay(ctx, req.Id)
	if err != nil {
		s.audit(ctx, "outbox.replay", req.Id, reason, holdline.ErrorCode(err), nil)
		return nil, err
	}
	s.audit(ctx, "outbox.replay", req.Id, reason, "ok", map[string]any{"kind": j.Kind, "interaction_id": j.InteractionID})
	return adminJSON{status: http.StatusOK, body: j}, nil
}

// ReplayJobs replays the jobs named by ids, or every job matching a filter
// that names at least a state (so "replay everything" is never an
// accident). dry_run lists them without replaying. Audited.
func (s *Server) ReplayJobs(ctx context.Context, req adminapi.ReplayJobsRequestObject) (adminapi.ReplayJobsResponseObject, error) {
	ob, err := s.outbox()
	if err != nil {
		return nil, err
	}
	if req.Body == nil {
		return nil, invalidBody()
	}
	b := req.Body
	ids := valueOf(b.Ids)
	limit := maxReplay
	if b.Limit != nil {
		limit = *b.Limit
	}
	if len(ids) == 0 {
		if b.State == nil {
			return nil, holdline.Errorf(holdline.EINVALID, "state", "name the jobs to replay: ids, or a state (with kind, interaction or since to narrow it)")
		}
		since, err := parseSince(b.Since, s.now())
		if err != nil {
			return nil, holdline.Errorf(holdline.EINVALID, "since", "%v", err)
		}
		ids, err = s.matchJobs(ctx, ob, outbox.Filter{State: outbox.State(*b.State), Kind: valueOf(b.Kind),
			Interaction: valueOf(b.Interaction), Since: since}, limit)
		if err != nil {
			return nil, err
		}
	} else if len(ids) > limit {
		ids = ids[:limit]
	}
	dry := valueOf(b.DryRun)
	out := map[string]any{"matched": len(ids), "replayed": 0, "dry_run": dry, "ids": ids}
	reason := strings.TrimSpace(valueOf(b.Reason))
	to := ""
	if b.To != nil {
		if !b.To.Valid() {
			return nil, holdline.Errorf(holdline.EINVALID, "to", "must be primary or secondary")
		}
		if reason == "" {
			return nil, holdline.Errorf(holdline.EINVALID, "reason", "say why the records move to the %s endpoint", *b.To)
		}
		to = string(*b.To)
		out["to"] = to
	}
	if dry {
		s.audit(ctx, "outbox.replay_many", "outbox", reason, "dry run", map[string]any{"matched": len(ids)})
		return adminJSON{status: http.StatusOK, body: out}, nil
	}
	replayed := []string{}
	var errs []string
	for _, id := range ids {
		var err error
		if to != "" {
			_, err = ob.ReplayTo(ctx, id, to, reason)
		} else {
			_, err = ob.Replay(ctx, id)
		}
		if err != nil {
			errs = append(errs, id+": "+replayError(err))
			continue
		}
		replayed = append(replayed, id)
	}
	out["replayed"], out["ids"] = len(replayed), replayed
	if len(errs) > 0 {
		out["errors"] = errs
	}
	result := "ok"
	if len(errs) > 0 {
		result = "partial"
	}
	s.audit(ctx, "outbox.replay_many", "outbox", reason, result,
		map[string]any{"matched": len(ids), "replayed": len(replayed), "failed": len(errs), "state": valueOf(b.State), "kind": valueOf(b.Kind), "to": to})
	return adminJSON{status: http.StatusOK, body: out}, nil
}

// matchJobs pages through the store for up to limit ids matching f.
func (s *Server) matchJobs(ctx context.Context, ob Outbox, f outbox.Filter, limit int) ([]string, error) {
	ids := []string{}
	f.Limit = 1000
	for len(ids) < limit {
		jobs, next, err := ob.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			if len(ids) == limit {
				break
			}
			ids = append(ids, j.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	return ids, nil
}

// replayError is what replay-many reports for one job: the client
// message of a holdline error, "error" for an internal one.
func replayError(err error) string {
	if msg := holdline.ErrorMessage(err); msg != "" {
		return msg
	}
	return "error"
}

// PurgeJobs deletes done or dead jobs last updated longer ago than
// older_than. Purging dead jobs releases the jobs they held. Audited.
func (s *Server) PurgeJobs(ctx context.Context, req adminapi.PurgeJobsRequestObject) (adminapi.PurgeJobsResponseObject, error) {
	ob, err := s.outbox()
	if err != nil {
		return nil, err
	}
	if req.Body == nil {
		return nil, invalidBody()
	}
	d, err := config.ParseDuration(req.Body.OlderThan)
	if err != nil || d < 0 {
		return nil, holdline.Errorf(holdline.EINVALID, "older_than", "want a duration such as 36h or 7d")
	}
	reason := strings.TrimSpace(valueOf(req.Body.Reason))
	state := outbox.State(req.Body.State)
	n, err := ob.Purge(ctx, state, s.now().Add(-d.D()))
	details := map[string]any{"state": string(state), "older_than": req.Body.OlderThan, "purged": n}
	if err != nil {
		s.audit(ctx, "outbox.purge", "outbox", reason, "error", details)
		return nil, err
	}
	s.audit(ctx, "outbox.purge", "outbox", reason, "ok", details)
	return adminJSON{status: http.StatusOK, body: map[string]any{"purged": n}}, nil
}

// adminJSON answers the outbox operations with a JSON body (outbox.Job
// marshals to the spec's Job as it is).
type adminJSON struct {
	status int
	body   any
}

func (r adminJSON) VisitListJobsResponse(w http.ResponseWriter) error {
	return answerJSON(w, r.status, r.body)
}
func (r adminJSON) VisitGetJobResponse(w http.ResponseWriter) error {
	return answerJSON(w, r.status, r.body)
}
func (r adminJSON) VisitReplayJobResponse(w http.ResponseWriter) error {
	return answerJSON(w, r.status, r.body)
}
func (r adminJSON) VisitReplayJobsResponse(w http.ResponseWriter) error {
	return answerJSON(w, r.status, r.body)
}
func (r adminJSON) VisitPurgeJobsResponse(w http.ResponseWriter) error {
	return answerJSON(w, r.status, r.body)
}
