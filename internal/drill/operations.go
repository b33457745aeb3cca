package drill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// result is one operation as the drill saw it.
type result struct {
	Op          Operation
	Start       time.Time
	Latency     time.Duration
	Status      int    // the answer's status code; 0 when none came
	OK          bool   // answered 2xx (both steps of a crm_write)
	Err         string // why it failed: a transport error, a timeout or the problem title
	Source      string // where the answer came from (screen pop source, stored, created/queued...)
	Degraded    bool
	Reasons     []string
	Unavailable bool // 503 "not configured": the operation is not wired on this sidecar
}

// target is the data plane the operations are sent to, and what it has
// accepted so far.
type target struct {
	api      *api
	runID    string
	scenario string
	agent    string // Dialogflow alias
	idToken  string // token for identity checks
	ledger   *ledger
	seq      atomic.Int64
	phoneOff int64 // per-run offset so fresh numbers miss earlier runs' cache

	mu          sync.Mutex
	unavailable map[Operation]string // op -> the sidecar's detail
}

func (t *target) next() int64 { return t.seq.Add(1) }

// knownPhone is one of a small pool of callers, so the cache and stale
// paths are exercised; freshPhone is a number never asked before, so its
// answer says whether the CRM itself answered.
func (t *target) knownPhone(n int64) string { return fmt.Sprintf("+1415555%04d", 100+n%20) }
func (t *target) freshPhone(n int64) string {
	v := (t.phoneOff + n) % 7_000_000
	return fmt.Sprintf("+1628%03d%04d", 200+v/10000, v%10000)
}

func (t *target) markUnavailable(op Operation, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.unavailable[op]; !ok {
		detail := err.Error()
		if e, ok := errors.AsType[*apiError](err); ok {
			detail = e.Detail
		}
		t.unavailable[op] = detail
	}
}

func (t *target) isUnavailable(op Operation) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.unavailable[op]
	return ok
}

// send runs one operation and times it.
func (t *target) send(ctx context.Context, op Operation) result {
	n := t.next()
	r := result{Op: op, Start: time.Now()}
	var err error
	switch op {
	case OpScreenPop:
		phone := t.knownPhone(n)
		if n%2 == 0 {
			phone = t.freshPhone(n)
		}
		err = t.screenPop(ctx, phone, &r)
	case OpDialogflow:
		err = t.dialogflow(ctx, n, &r)
	case OpIdentity:
		err = t.identity(ctx, &r)
	case OpCRMWrite:
		err = t.crmWrite(ctx, t.interaction(n), &r)
	case OpRecording:
		err = t.recording(ctx, t.interaction(n), &r)
	}
	r.Latency = time.Since(r.Start)
	t.finish(&r, err)
	return r
}

func (t *target) finish(r *result, err error) {
	switch {
	case err == nil:
		r.OK = true
	case notConfigured(err):
		r.Unavailable = true
		t.markUnavailable(r.Op, err)
	default:
		if e, ok := errors.AsType[*apiError](err); ok {
			r.Status, r.Err = e.Status, fmt.Sprintf("%d %s", e.Status, e.Title)
		} else {
			r.Err = shortErr(err)
		}
	}
}

func (t *target) interaction(n int64) string { return fmt.Sprintf("drill-%s-%d", t.runID, n) }

func (t *target) screenPop(ctx context.Context, phone string, r *result) error {
	var out struct {
		Source   string   `json:"source"`
		Degraded bool     `json:"degraded"`
		Reasons  []string `json:"reasons"`
	}
	code, err := t.api.do(ctx, http.MethodPost, "/v1/screen-pop", nil, map[string]string{"phone": phone}, &out)
	r.Status, r.Source, r.Degraded, r.Reasons = code, out.Source, out.Degraded, out.Reasons
	return err
}

func (t *target) dialogflow(ctx context.Context, n int64, r *result) error {
	var out struct {
		Source   string   `json:"source"`
		Degraded bool     `json:"degraded"`
		Reasons  []string `json:"reasons"`
		Handoff  bool     `json:"live_agent_handoff"`
	}
	path := fmt.Sprintf("/v1/dialogflow/%s/sessions/d%s-%d/detect-intent", url.PathEscape(t.agent), t.runID, n)
	code, err := t.api.do(ctx, http.MethodPost, path, nil, map[string]string{"text": "what is my balance", "language_code": "en"}, &out)
	r.Status, r.Source, r.Degraded, r.Reasons = code, out.Source, out.Degraded, out.Reasons
	if out.Handoff && out.Source == "fallback" {
		r.Reasons = append(r.Reasons, "live_agent_handoff")
	}
	return err
}

func (t *target) identity(ctx context.Context, r *result) error {
	var out struct {
		Source   string   `json:"source"`
		Degraded bool     `json:"degraded"`
		Reasons  []string `json:"reasons"`
		Active   bool     `json:"active"`
	}
	code, err := t.api.do(ctx, http.MethodPost, "/v1/identity/verify", nil, map[string]string{"token": t.idToken}, &out)
	r.Status, r.Source, r.Degraded, r.Reasons = code, out.Source, out.Degraded, out.Reasons
	if err == nil && !out.Active {
		r.Reasons = append(r.Reasons, "inactive")
	}
	return err
}

// writeResult is the answer to a CRM write.
type writeResult struct {
	Status string `json:"status"` // created, queued
	JobID  string `json:"job_id"`
}

// createRecord writes the interaction's CRM record and puts the accepted
// job in the ledger.
func (t *target) createRecord(ctx context.Context, id string) (int, writeResult, error) {
	var out writeResult
	body := map[string]any{"subject": "holdline drill " + t.scenario, "channel": "voice", "description": "created by holdline drill run " + t.runID}
	code, err := t.api.do(ctx, http.MethodPost, "/v1/interactions/"+id+"/record", nil, body, &out)
	if err == nil {
		t.ledger.add(item{Interaction: id, Kind: "record", JobID: out.JobID, Accepted: code})
	}
	return code, out, err
}

func (t *target) crmWrite(ctx context.Context, id string, r *result) error {
	code, rec, err := t.createRecord(ctx, id)
	r.Status = code
	if err != nil {
		return err
	}
	var out writeResult
	code, err = t.api.do(ctx, http.MethodPost, "/v1/interactions/"+id+"/comments", nil, map[string]string{"body": "drill comment", "author": "holdline-drill"}, &out)
	r.Status = code
	if err != nil {
		return err
	}
	t.ledger.add(item{Interaction: id, Kind: "comment", JobID: out.JobID, Accepted: code})
	r.Source = out.Status
	if rec.Status == "queued" || out.Status == "queued" {
		r.Source, r.Degraded, r.Reasons = "queued", true, []string{"queued in the outbox"}
	}
	return nil
}

// recordingBody is a small WAV-like body: the drill tests the path, not
// throughput.
var recordingBody = func() []byte {
	b := make([]byte, 4096)
	copy(b, "RIFF\x00\x10\x00\x00WAVEfmt ")
	for i := 16; i < len(b); i++ {
		b[i] = byte(i * 31)
	}
	return b
}()

// recording creates the interaction's record first (the attachment waits
// for it), then uploads; only the upload is timed as the recording.
func (t *target) recording(ctx context.Context, id string, r *result) error {
	if _, _, err := t.createRecord(ctx, id); err != nil && notConfigured(err) {
		return err
	}
	r.Start = time.Now()
	var out struct {
		RecordingID string `json:"recording_id"`
		Stored      string `json:"stored"`
		JobID       string `json:"job_id"`
	}
	recID := "rec-" + id
	hdr := http.Header{"X-Recording-Id": {recID}}
	code, err := t.api.do(ctx, http.MethodPost, "/v1/interactions/"+id+"/recordings", hdr, rawBody{recordingBody, "audio/wav"}, &out)
	r.Status, r.Source = code, out.Stored
	if err != nil {
		return err
	}
	if out.Stored == "spool" {
		r.Degraded, r.Reasons = true, []string{"spooled to local disk"}
	}
	if out.RecordingID == "" {
		out.RecordingID = recID
	}
	t.ledger.add(item{Interaction: id, Kind: "recording", RecordingID: out.RecordingID, JobID: out.JobID, Accepted: code})
	return nil
}
