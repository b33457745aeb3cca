package contract

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/holdline/holdline/internal/contract/adminclient"
	"github.com/holdline/holdline/internal/contract/dataclient"
)

// bearer is the admin client's security source: a fixed token.
type bearer string

func (b bearer) Bearer(context.Context, adminclient.OperationName) (adminclient.Bearer, error) {
	return adminclient.Bearer{Token: string(b)}, nil
}

// TestAdminClient drives every operation of openapi/admin.yaml through the
// ogen-generated client against a running dev sidecar, with its error
// answers: each decodes into the typed problem of its status.
func TestAdminClient(t *testing.T) {
	sc := startSidecar(t, nil)
	c, err := adminclient.NewClient(sc.admin, bearer(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("probes", func(t *testing.T) {
		h, err := c.Healthz(ctx)
		if _, ok := h.(*adminclient.Health); err != nil || !ok {
			t.Errorf("healthz: %T %v", h, err)
		}
		r, err := c.Readyz(ctx)
		if _, ok := r.(*adminclient.ReadyzOK); err != nil || !ok {
			t.Errorf("readyz: %T %v", r, err)
		}
		m, err := c.Metrics(ctx)
		if err != nil {
			t.Fatalf("metrics: %v", err)
		}
		ok, isOK := m.(*adminclient.MetricsOK)
		if !isOK {
			t.Fatalf("metrics: %T", m)
		}
		if b, _ := io.ReadAll(ok.Data); !bytes.Contains(b, []byte("# TYPE")) {
			t.Errorf("metrics: not the Prometheus text format: %.80s", b)
		}
	})

	t.Run("getStatus", func(t *testing.T) {
		res, err := c.GetStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, ok := res.(*adminclient.Status)
		if !ok || len(st.Dependencies) == 0 || !st.Drills.Enabled {
			t.Fatalf("answered %T %+v, want dependencies and drills on", res, res)
		}
	})

	t.Run("unauthorized", func(t *testing.T) {
		bad, err := adminclient.NewClient(sc.admin, bearer("wrong-token-0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := bad.ListFaults(ctx)
		wantProblem(t, "listFaults with a wrong token", res, err, 401, "unauthorized", "")
	})

	t.Run("faults", func(t *testing.T) {
		res, err := c.AddFault(ctx, &adminclient.FaultRequest{
			Dependency: adminclient.FaultRequestDependencyCrm, Duration: "60s",
			ErrorRate: adminclient.NewOptFloat64(0.5), Reason: adminclient.NewOptString("contract test"),
		})
		if err != nil {
			t.Fatal(err)
		}
		f, ok := res.(*adminclient.Fault)
		if !ok || f.ID == "" || f.Dependency != "crm" {
			t.Fatalf("addFault: %T %+v", res, res)
		}
		lres, err := c.ListFaults(ctx)
		if err != nil {
			t.Fatal(err)
		}
		list, ok := lres.(*adminclient.ListFaultsOK)
		if !ok || !slices.ContainsFunc(list.Faults, func(x adminclient.Fault) bool { return x.ID == f.ID }) {
			t.Errorf("listFaults: %T %+v, want fault %s", lres, lres, f.ID)
		}
		dres, err := c.DeleteFault(ctx, adminclient.DeleteFaultParams{ID: f.ID})
		if _, ok := dres.(*adminclient.DeleteFaultNoContent); err != nil || !ok {
			t.Errorf("deleteFault: %T %v", dres, err)
		}
		dres, err = c.DeleteFault(ctx, adminclient.DeleteFaultParams{ID: f.ID})
		wantProblem(t, "deleteFault again", dres, err, 404, "not-found", "")
		res, err = c.AddFault(ctx, &adminclient.FaultRequest{Dependency: adminclient.FaultRequestDependencyCrm, Duration: "soon", ErrorRate: adminclient.NewOptFloat64(1)})
		wantProblem(t, "addFault duration soon", res, err, 400, "validation", "duration")
	})

	t.Run("setBreaker", func(t *testing.T) {
		for _, mode := range []adminclient.SetBreakerReqMode{adminclient.SetBreakerReqModeOpen, adminclient.SetBreakerReqModeAuto} {
			res, err := c.SetBreaker(ctx, &adminclient.SetBreakerReq{Mode: mode, Reason: "contract test"}, adminclient.SetBreakerParams{Name: adminclient.DependencyNameCrm})
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := res.(*adminclient.DependencyStatus); !ok || d.Name != "crm" {
				t.Fatalf("%s: answered %T %+v", mode, res, res)
			}
		}
		res, err := c.SetBreaker(ctx, &adminclient.SetBreakerReq{Mode: adminclient.SetBreakerReqModeOpen, Reason: ""}, adminclient.SetBreakerParams{Name: adminclient.DependencyNameCrm})
		wantProblem(t, "empty reason", res, err, 400, "validation", "reason")
		// A name outside the enum never reaches the handler. (The 404 of
		// a known name this sidecar does not run cannot happen in dev
		// mode, which runs all five.)
		res, err = c.SetBreaker(ctx, &adminclient.SetBreakerReq{Mode: adminclient.SetBreakerReqModeOpen, Reason: "contract test"}, adminclient.SetBreakerParams{Name: "nope"})
		wantProblem(t, "name nope", res, err, 400, "validation", "name")
	})

	t.Run("setEndpoint", func(t *testing.T) {
		for _, to := range []adminclient.SetEndpointReqActive{adminclient.SetEndpointReqActiveSecondary, adminclient.SetEndpointReqActivePrimary} {
			res, err := c.SetEndpoint(ctx, &adminclient.SetEndpointReq{Active: to, Reason: "contract test"}, adminclient.SetEndpointParams{Name: adminclient.DependencyNameCrm})
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := res.(*adminclient.DependencyStatus); !ok || d.Name != "crm" {
				t.Fatalf("%s: answered %T %+v", to, res, res)
			}
		}
		res, err := c.SetEndpoint(ctx, &adminclient.SetEndpointReq{Active: "tertiary", Reason: "contract test"}, adminclient.SetEndpointParams{Name: adminclient.DependencyNameCrm})
		wantProblem(t, "tertiary", res, err, 400, "validation", "active")
		// Redis has no secondary endpoint to move to.
		res, err = c.SetEndpoint(ctx, &adminclient.SetEndpointReq{Active: adminclient.SetEndpointReqActiveSecondary, Reason: "contract test"}, adminclient.SetEndpointParams{Name: adminclient.DependencyNameRedis})
		wantProblem(t, "redis secondary", res, err, 409, "conflict", "")
	})

	t.Run("getAudit", func(t *testing.T) {
		res, err := c.GetAudit(ctx, adminclient.GetAuditParams{Since: adminclient.NewOptSince("1h")})
		if err != nil {
			t.Fatal(err)
		}
		a, ok := res.(*adminclient.GetAuditOK)
		if !ok || len(a.Entries) == 0 {
			t.Fatalf("answered %T %+v, want the audited changes above", res, res)
		}
		res, err = c.GetAudit(ctx, adminclient.GetAuditParams{Since: adminclient.NewOptSince("yesterday")})
		wantProblem(t, "since yesterday", res, err, 400, "validation", "since")
	})

	t.Run("outbox", func(t *testing.T) {
		// A recording queues a crm.attach_recording job.
		d, err := dataclient.NewClient(sc.data)
		if err != nil {
			t.Fatal(err)
		}
		const id = "contract-admin-1"
		if _, err := d.CreateRecord(ctx, &dataclient.RecordRequest{Subject: "contract"}, dataclient.CreateRecordParams{InteractionID: id}); err != nil {
			t.Fatal(err)
		}
		up, err := d.UploadRecording(ctx, &dataclient.UploadRecordingReqWithContentType{
			ContentType: "audio/wav", Content: dataclient.UploadRecordingReq{Data: bytes.NewReader([]byte("RIFF audio"))},
		}, dataclient.UploadRecordingParams{InteractionID: id})
		if err != nil {
			t.Fatal(err)
		}
		rec, ok := up.(*dataclient.UploadRecordingCreated)
		if !ok || rec.JobID.Value == "" {
			t.Fatalf("upload: %T %+v, want 201 with a job id", up, up)
		}
		jobID := rec.JobID.Value

		lres, err := c.ListJobs(ctx, adminclient.ListJobsParams{Interaction: adminclient.NewOptString(id)})
		if err != nil {
			t.Fatal(err)
		}
		jobs, ok := lres.(*adminclient.ListJobsOK)
		if !ok || !slices.ContainsFunc(jobs.Jobs, func(j adminclient.Job) bool { return j.ID == jobID }) {
			t.Errorf("listJobs: %T %+v, want job %s", lres, lres, jobID)
		}
		lres, err = c.ListJobs(ctx, adminclient.ListJobsParams{Limit: adminclient.NewOptInt(0)})
		wantProblem(t, "listJobs limit 0", lres, err, 400, "validation", "limit")

		gres, err := c.GetJob(ctx, adminclient.GetJobParams{ID: jobID})
		if j, ok := gres.(*adminclient.Job); err != nil || !ok || j.ID != jobID {
			t.Errorf("getJob: %T %+v %v", gres, gres, err)
		}
		gres, err = c.GetJob(ctx, adminclient.GetJobParams{ID: "no-such-job"})
		wantProblem(t, "getJob unknown", gres, err, 404, "not-found", "")

		rres, err := c.ReplayJob(ctx, adminclient.NewOptReplayJobReq(adminclient.ReplayJobReq{Reason: adminclient.NewOptString("contract")}), adminclient.ReplayJobParams{ID: jobID})
		if err != nil {
			t.Fatal(err)
		}
		switch rres.(type) {
		case *adminclient.Job, *adminclient.ReplayJobConflict: // replayed, or in flight
		default:
			t.Errorf("replayJob: %T %+v", rres, rres)
		}
		rres, err = c.ReplayJob(ctx, adminclient.OptReplayJobReq{}, adminclient.ReplayJobParams{ID: "no-such-job"})
		wantProblem(t, "replayJob unknown", rres, err, 404, "not-found", "")

		byState := adminclient.NewReplayJobsReqSum0ReplayJobsReqSum(adminclient.ReplayJobsReqSum0{State: adminclient.ReplayJobsReqSum0StateDead})
		mres, err := c.ReplayJobs(ctx, &adminclient.ReplayJobsReq{OneOf: byState, DryRun: adminclient.NewOptBool(true)})
		if m, ok := mres.(*adminclient.ReplayJobsOK); err != nil || !ok || m.Ids == nil {
			t.Errorf("replayJobs dry run: %T %+v %v, want 200 with ids (an empty list is [])", mres, mres, err)
		}
		// ids and a state together break the exactly-one-of rule.
		mres, err = c.ReplayJobs(ctx, &adminclient.ReplayJobsReq{OneOf: byState, Ids: []string{jobID}})
		wantProblem(t, "replayJobs ids and state", mres, err, 400, "validation", "")

		pres, err := c.PurgeJobs(ctx, &adminclient.PurgeJobsReq{State: adminclient.PurgeJobsReqStateDone, OlderThan: "7d", Reason: adminclient.NewOptString("contract")})
		if _, ok := pres.(*adminclient.PurgeJobsOK); err != nil || !ok {
			t.Errorf("purgeJobs: %T %+v %v", pres, pres, err)
		}
		pres, err = c.PurgeJobs(ctx, &adminclient.PurgeJobsReq{State: adminclient.PurgeJobsReqStateDone, OlderThan: "soon"})
		wantProblem(t, "purgeJobs older_than soon", pres, err, 400, "validation", "older_than")
	})
}
