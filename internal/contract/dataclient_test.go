package contract

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/holdline/holdline/internal/contract/dataclient"
)

// TestDataClient drives every operation of openapi/holdline.yaml through
// the ogen-generated client against a running dev sidecar: each success
// answer decodes into its declared type, and each error answer into the
// typed problem of its status (a strict client fails with a decode error
// on an undeclared status or a body that is not the Problem schema).
func TestDataClient(t *testing.T) {
	sc := startSidecar(t, nil)
	c, err := dataclient.NewClient(sc.data)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("getOpenAPI", func(t *testing.T) {
		res, err := c.GetOpenAPI(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ok, isOK := res.(*dataclient.GetOpenAPIOK)
		if !isOK {
			t.Fatalf("answered %T", res)
		}
		b, err := io.ReadAll(ok.Data)
		if err != nil || !bytes.Contains(b, []byte("operationId: screenPop")) {
			t.Errorf("the served document is not the data-plane spec (%v): %.80s", err, b)
		}
	})

	t.Run("screenPop", func(t *testing.T) {
		res, err := c.ScreenPop(ctx, &dataclient.ScreenPopRequest{Phone: "+14155550100"})
		if err != nil {
			t.Fatal(err)
		}
		pop, ok := res.(*dataclient.ScreenPop)
		if !ok || pop.E164 != "+14155550100" {
			t.Fatalf("answered %T %+v, want a pop for +14155550100", res, res)
		}
		// A withheld caller id is a minimal, degraded pop, not an error.
		res, err = c.ScreenPop(ctx, &dataclient.ScreenPopRequest{Phone: "anonymous"})
		if err != nil {
			t.Fatal(err)
		}
		pop, ok = res.(*dataclient.ScreenPop)
		if !ok || !pop.Degraded || pop.Source != dataclient.ScreenPopSourceMinimal || !slices.Contains(pop.Reasons, "no caller number") {
			t.Errorf("anonymous: answered %T %+v, want a minimal degraded pop, reason no caller number", res, res)
		}
		res, err = c.ScreenPop(ctx, &dataclient.ScreenPopRequest{Phone: "4155550100", Region: dataclient.NewOptString("U1")})
		wantProblem(t, "region U1", res, err, 400, "validation", "region")
	})

	const id = "contract-data-1"
	t.Run("createRecord", func(t *testing.T) {
		res, err := c.CreateRecord(ctx, &dataclient.RecordRequest{Subject: "contract test", Phone: dataclient.NewOptString("+14155550100")},
			dataclient.CreateRecordParams{InteractionID: id, IdempotencyKey: dataclient.NewOptString("contract-record-1")})
		if err != nil {
			t.Fatal(err)
		}
		switch r := res.(type) {
		case *dataclient.CreateRecordCreated:
			if r.Status != dataclient.WriteResultStatusCreated {
				t.Errorf("201 with status %q", r.Status)
			}
		case *dataclient.CreateRecordAccepted:
			if r.Status != dataclient.WriteResultStatusQueued {
				t.Errorf("202 with status %q", r.Status)
			}
		default:
			t.Fatalf("answered %T %+v", res, res)
		}
		res, err = c.CreateRecord(ctx, &dataclient.RecordRequest{Subject: ""}, dataclient.CreateRecordParams{InteractionID: "contract-data-2"})
		wantProblem(t, "empty subject", res, err, 400, "validation", "subject")
	})

	t.Run("addComment", func(t *testing.T) {
		res, err := c.AddComment(ctx, &dataclient.CommentRequest{Body: "called back"}, dataclient.AddCommentParams{InteractionID: id})
		if err != nil {
			t.Fatal(err)
		}
		switch res.(type) {
		case *dataclient.AddCommentCreated, *dataclient.AddCommentAccepted:
		default:
			t.Fatalf("answered %T %+v", res, res)
		}
		// An interaction with no record has nothing to comment on.
		res, err = c.AddComment(ctx, &dataclient.CommentRequest{Body: "x"}, dataclient.AddCommentParams{InteractionID: "contract-no-record"})
		wantProblem(t, "no record", res, err, 409, "conflict", "")
		res, err = c.AddComment(ctx, &dataclient.CommentRequest{Body: ""}, dataclient.AddCommentParams{InteractionID: id})
		wantProblem(t, "empty body", res, err, 400, "validation", "body")
	})

	var jobID string
	t.Run("uploadRecording", func(t *testing.T) {
		audio := []byte("RIFF....WAVEfmt contract test audio")
		res, err := c.UploadRecording(ctx, &dataclient.UploadRecordingReqWithContentType{
			ContentType: "audio/wav", Content: dataclient.UploadRecordingReq{Data: bytes.NewReader(audio)},
		}, dataclient.UploadRecordingParams{InteractionID: id, XRecordingID: dataclient.NewOptString("rec-1")})
		if err != nil {
			t.Fatal(err)
		}
		created, ok := res.(*dataclient.UploadRecordingCreated)
		if !ok || created.Size != int64(len(audio)) || created.RecordingID != "rec-1" {
			t.Fatalf("answered %T %+v, want 201 for rec-1 of %d bytes", res, res, len(audio))
		}
		jobID = created.JobID.Value
		// The same recording again: the first answer, 200.
		res, err = c.UploadRecording(ctx, &dataclient.UploadRecordingReqWithContentType{
			ContentType: "audio/wav", Content: dataclient.UploadRecordingReq{Data: bytes.NewReader(audio)},
		}, dataclient.UploadRecordingParams{InteractionID: id, XRecordingID: dataclient.NewOptString("rec-1")})
		if _, ok := res.(*dataclient.UploadRecordingOK); err != nil || !ok {
			t.Errorf("repeat: answered %T (%v), want 200", res, err)
		}
		res, err = c.UploadRecording(ctx, &dataclient.UploadRecordingReqWithContentType{
			ContentType: "text/plain", Content: dataclient.UploadRecordingReq{Data: strings.NewReader("not audio")},
		}, dataclient.UploadRecordingParams{InteractionID: id})
		wantProblem(t, "text/plain", res, err, 415, "unsupported-media-type", "")
		// An id that could name another object is refused before any flow.
		res, err = c.UploadRecording(ctx, &dataclient.UploadRecordingReqWithContentType{
			ContentType: "audio/wav", Content: dataclient.UploadRecordingReq{Data: bytes.NewReader(audio)},
		}, dataclient.UploadRecordingParams{InteractionID: "a/../../evil"})
		if p, ok := problemOf(res); err != nil || !ok || (p.Status != 400 && p.Status != 404) {
			t.Errorf("id a/../../evil: answered %T %+v (%v), want a 400 or 404 problem", res, res, err)
		}
	})

	t.Run("getInteraction", func(t *testing.T) {
		res, err := c.GetInteraction(ctx, dataclient.GetInteractionParams{InteractionID: id})
		if err != nil {
			t.Fatal(err)
		}
		in, ok := res.(*dataclient.Interaction)
		if !ok || in.InteractionID != id || len(in.Recordings) != 1 {
			t.Fatalf("answered %T %+v, want %s with one recording", res, res, id)
		}
		if jobID != "" && in.Recordings[0].JobID.Value != jobID {
			t.Errorf("recording job %q, want %q", in.Recordings[0].JobID.Value, jobID)
		}
		res, err = c.GetInteraction(ctx, dataclient.GetInteractionParams{InteractionID: "contract-unknown"})
		wantProblem(t, "unknown", res, err, 404, "not-found", "")
		res, err = c.GetInteraction(ctx, dataclient.GetInteractionParams{InteractionID: "bad id!"})
		wantProblem(t, "bad id", res, err, 400, "validation", "interaction_id")
	})

	t.Run("listDialogflowAgents", func(t *testing.T) {
		res, err := c.ListDialogflowAgents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		agents, ok := res.(*dataclient.DialogflowAgents)
		if !ok || len(agents.Agents) != 1 || agents.Agents[0].Alias != "support" {
			t.Fatalf("answered %T %+v, want the dev agent support", res, res)
		}
	})

	t.Run("detectIntent", func(t *testing.T) {
		turn := func(agent string, oneOf dataclient.DetectIntentRequestSum) (dataclient.DetectIntentRes, error) {
			return c.DetectIntent(ctx, &dataclient.DetectIntentRequest{LanguageCode: "en", OneOf: oneOf},
				dataclient.DetectIntentParams{Agent: agent, SessionID: "contract-session-1"})
		}
		text := dataclient.NewDetectIntentRequestSum0DetectIntentRequestSum(dataclient.DetectIntentRequestSum0{Text: "hello"})
		res, err := turn("support", text)
		if err != nil {
			t.Fatal(err)
		}
		if di, ok := res.(*dataclient.DetectIntent); !ok || di.Source != dataclient.DetectIntentSourceDialogflow {
			t.Fatalf("answered %T %+v, want a dialogflow turn", res, res)
		}
		res, err = turn("nosuchagent", text)
		wantProblem(t, "unknown agent", res, err, 404, "not-found", "")
		// Two turns in one request break the exactly-one-of rule.
		res, err = c.DetectIntent(ctx, &dataclient.DetectIntentRequest{LanguageCode: "en", Event: dataclient.NewOptString("WELCOME"), OneOf: text},
			dataclient.DetectIntentParams{Agent: "support", SessionID: "contract-session-1"})
		wantProblem(t, "text and event", res, err, 400, "validation", "")
	})

	t.Run("verifyToken", func(t *testing.T) {
		res, err := c.VerifyToken(ctx, &dataclient.VerifyTokenReq{Token: "not-a-jwt"})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := res.(*dataclient.TokenVerdict); !ok || v.Active {
			t.Fatalf("answered %T %+v, want an inactive verdict", res, res)
		}
		res, err = c.VerifyToken(ctx, &dataclient.VerifyTokenReq{Token: ""})
		wantProblem(t, "empty token", res, err, 400, "validation", "token")
	})
}
