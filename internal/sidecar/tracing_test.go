package sidecar

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/sim"
)

// otlpReceiver is an OTLP/HTTP traces endpoint on loopback that keeps
// every span it is sent, decoded from the protobuf export request.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func startOTLP(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != "POST" || req.URL.Path != "/v1/traces" {
			http.Error(w, "not an OTLP traces export", http.StatusNotFound)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var in coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &in)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range in.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				r.spans = append(r.spans, ss.GetSpans()...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

// find returns the received spans that match.
func (r *otlpReceiver) find(match func(*tracepb.Span) bool) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range r.spans {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// seenCRM is the CRM simulator behind a recorder of the correlation
// headers of every request it receives.
type seenCRM struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, path, traceparent, requestID string
}

func startSeenCRM(t *testing.T) *seenCRM {
	t.Helper()
	c := &seenCRM{}
	h := sim.NewCRM(sim.CRMOptions{}).Handler()
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.seen = append(c.seen, seenRequest{r.Method, r.URL.Path, r.Header.Get("Traceparent"), r.Header.Get("X-Request-Id")})
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *seenCRM) requests(method string) []seenRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []seenRequest
	for _, s := range c.seen {
		if s.method == method {
			out = append(out, s)
		}
	}
	return out
}

// startTraced starts a dev-mode sidecar whose CRM is crm and, when recv is
// not nil, whose spans go to recv. Budgets and timeouts are long, so that
// a loaded machine answers from the CRM (and a write synchronously) as an
// idle one does.
func startTraced(t *testing.T, crm *seenCRM, recv *otlpReceiver) *testSidecar {
	t.Helper()
	return startDev(t, func(c *config.Config) {
		c.ScreenPop.Budget = config.Duration(hangGuard)
		c.Outbox.WriteBudget = config.Duration(hangGuard)
		c.Dependencies.CRM.Timeout = config.Duration(hangGuard)
		c.Dependencies.Dialogflow.Timeout = config.Duration(hangGuard)
		c.Dependencies.CRM.Kind = "generic"
		c.Dependencies.CRM.Endpoints.Primary = crm.URL
		if recv != nil {
			c.Tracing.OTLPEndpoint = recv.URL + "/v1/traces"
		}
	})
}

// send makes a data-plane request with a W3C traceparent and an
// X-Request-Id, and returns the status.
func (ts *testSidecar) send(t *testing.T, path, body, traceparent, requestID string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", ts.data+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	req.Header.Set("X-Request-Id", requestID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Logf("POST %s = %d: %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// waitSpans flushes the sidecar's spans until match finds want of them:
// a span ends after its response is written, so the first flush may
// come before the server span has ended.
func waitSpans(t *testing.T, ts *testSidecar, recv *otlpReceiver, what string, want int, match func(*tracepb.Span) bool) []*tracepb.Span {
	t.Helper()
	var got []*tracepb.Span
	waitUntil(t, what, func() (bool, string) {
		if err := ts.tracing.ForceFlush(t.Context()); err != nil {
			return false, err.Error()
		}
		got = recv.find(match)
		return len(got) >= want, spanNames(recv.find(func(*tracepb.Span) bool { return true }))
	})
	return got
}

func spanNames(spans []*tracepb.Span) string {
	var names []string
	for _, s := range spans {
		names = append(names, s.GetName()+"("+hex.EncodeToString(s.GetTraceId())+")")
	}
	return strings.Join(names, ", ")
}

func inTrace(traceID string, name string) func(*tracepb.Span) bool {
	return func(s *tracepb.Span) bool {
		return hex.EncodeToString(s.GetTraceId()) == traceID && s.GetName() == name
	}
}

func attr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			return kv.GetValue()
		}
	}
	return nil
}

// parts splits a traceparent into its trace id and parent (span) id.
func parts(traceparent string) (traceID, parentID string) {
	f := strings.Split(traceparent, "-")
	if len(f) != 4 {
		return "", ""
	}
	return f[1], f[2]
}

const (
	popTraceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	popParentID = "00f067aa0ba902b7"
)

// TestTraceScreenPop: a screen pop sent with a traceparent continues that
// trace: the request's server span is the caller's span's child, the
// policy span ("crm lookup") the server span's, the attempt span the
// policy span's; and the CRM receives a traceparent of the same trace
// whose parent is the attempt span, with the request's X-Request-Id.
func TestTraceScreenPop(t *testing.T) {
	t.Parallel()
	recv, crm := startOTLP(t), startSeenCRM(t)
	ts := startTraced(t, crm, recv)

	if code := ts.send(t, "/v1/screen-pop", `{"phone":"+14155550100"}`, "00-"+popTraceID+"-"+popParentID+"-01", "pop-req-1"); code != 200 {
		t.Fatalf("screen pop = %d, want 200", code)
	}
	server := waitSpans(t, ts, recv, "the request's server span", 1, inTrace(popTraceID, "POST /v1/screen-pop"))[0]
	policy := waitSpans(t, ts, recv, "the policy span", 1, inTrace(popTraceID, "crm lookup"))[0]
	attempt := waitSpans(t, ts, recv, "the attempt span", 1, inTrace(popTraceID, "crm attempt"))[0]

	id := func(b []byte) string { return hex.EncodeToString(b) }
	if got := id(server.GetParentSpanId()); got != popParentID {
		t.Errorf("server span's parent = %s, want the caller's span %s", got, popParentID)
	}
	if server.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("server span kind = %v, want server", server.GetKind())
	}
	if got := attr(server, "holdline.request_id").GetStringValue(); got != "pop-req-1" {
		t.Errorf("server span holdline.request_id = %q, want pop-req-1", got)
	}
	if got := attr(server, "holdline.screen_pop.source").GetStringValue(); got != "crm" {
		t.Errorf("server span holdline.screen_pop.source = %q, want crm", got)
	}
	if got, want := id(policy.GetParentSpanId()), id(server.GetSpanId()); got != want {
		t.Errorf("policy span's parent = %s, want the server span %s", got, want)
	}
	if got := attr(policy, "holdline.outcome").GetStringValue(); got != "success" {
		t.Errorf("policy span holdline.outcome = %q, want success", got)
	}
	if got := attr(policy, "holdline.attempts").GetIntValue(); got != 1 {
		t.Errorf("policy span holdline.attempts = %d, want 1", got)
	}
	if got, want := id(attempt.GetParentSpanId()), id(policy.GetSpanId()); got != want {
		t.Errorf("attempt span's parent = %s, want the policy span %s", got, want)
	}
	if attr(attempt, "holdline.attempt").GetIntValue() != 1 || attr(attempt, "holdline.retry").GetBoolValue() || attr(attempt, "holdline.hedge").GetBoolValue() {
		t.Errorf("attempt span attributes = %v, want attempt 1, no retry, no hedge", attempt.GetAttributes())
	}

	// The generic CRM's lookup is two GETs (the contact, its records),
	// both made by the one attempt.
	gets := crm.requests("GET")
	if len(gets) == 0 {
		t.Fatal("CRM saw no GET")
	}
	for _, g := range gets {
		tid, parent := parts(g.traceparent)
		if tid != popTraceID || parent != id(attempt.GetSpanId()) {
			t.Errorf("CRM's traceparent on %s = %q, want trace %s with parent %s (the attempt span)", g.path, g.traceparent, popTraceID, id(attempt.GetSpanId()))
		}
		if g.requestID != "pop-req-1" {
			t.Errorf("CRM's X-Request-Id on %s = %q, want pop-req-1", g.path, g.requestID)
		}
	}
}

// TestTraceOutboxJob: a CRM write queued by a request runs later in the
// outbox under a span of its own (a new trace) that links to the
// request's span, and the job's CRM call carries that trace and the
// request's X-Request-Id.
func TestTraceOutboxJob(t *testing.T) {
	t.Parallel()
	recv, crm := startOTLP(t), startSeenCRM(t)
	ts := startTraced(t, crm, recv)
	const traceID, parentID = "5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8"

	rec := `{"subject":"Billing question","description":"invoice 42","channel":"voice"}`
	if code := ts.send(t, "/v1/interactions/call-traced/record", rec, "00-"+traceID+"-"+parentID+"-01", "job-req-1"); code != 201 {
		t.Fatalf("POST record = %d, want 201", code)
	}
	server := waitSpans(t, ts, recv, "the request's server span", 1, inTrace(traceID, "POST /v1/interactions/{interaction_id}/record"))[0]
	job := waitSpans(t, ts, recv, "the job's dispatch span", 1, func(s *tracepb.Span) bool { return s.GetName() == "outbox crm.create_record" })[0]

	id := func(b []byte) string { return hex.EncodeToString(b) }
	if id(job.GetTraceId()) == traceID || len(job.GetParentSpanId()) != 0 {
		t.Errorf("dispatch span is in trace %s with parent %x, want a new root", id(job.GetTraceId()), job.GetParentSpanId())
	}
	links := job.GetLinks()
	if len(links) != 1 || id(links[0].GetTraceId()) != traceID || id(links[0].GetSpanId()) != id(server.GetSpanId()) {
		t.Errorf("dispatch span links = %v, want one link to the request's span %s in trace %s", links, id(server.GetSpanId()), traceID)
	}
	if got := attr(job, "holdline.request_id").GetStringValue(); got != "job-req-1" {
		t.Errorf("dispatch span holdline.request_id = %q, want job-req-1", got)
	}
	write := waitSpans(t, ts, recv, "the job's policy span", 1, inTrace(id(job.GetTraceId()), "crm create_record"))[0]
	if id(write.GetParentSpanId()) != id(job.GetSpanId()) {
		t.Errorf("the job's policy span has parent %x, want the dispatch span %x", write.GetParentSpanId(), job.GetSpanId())
	}

	posts := crm.requests("POST")
	if len(posts) != 1 {
		t.Fatalf("CRM saw %d POSTs (%+v), want the one record create", len(posts), posts)
	}
	if posts[0].requestID != "job-req-1" {
		t.Errorf("the job's CRM call has X-Request-Id %q, want the queuing request's job-req-1", posts[0].requestID)
	}
	if tid, _ := parts(posts[0].traceparent); tid != id(job.GetTraceId()) {
		t.Errorf("the job's CRM call has traceparent %q, want the dispatch span's trace %s", posts[0].traceparent, id(job.GetTraceId()))
	}
}

// TestTraceDialogflow: a Dialogflow turn sends the trace context and the
// request id to Dialogflow as gRPC metadata.
func TestTraceDialogflow(t *testing.T) {
	t.Parallel()
	recv, crm := startOTLP(t), startSeenCRM(t)
	ts := startTraced(t, crm, recv)
	const traceID, parentID = "6bf92f3577b34da6a3ce929d0e0e4738", "20f067aa0ba902b9"

	// A first turn opens the connection, so the traced one is well within
	// the dev agent's 2s budget even on a loaded machine.
	if code := ts.send(t, "/v1/dialogflow/support/sessions/s-warm/detect-intent", `{"text":"hello","language_code":"en"}`, "", "df-warm"); code != 200 {
		t.Fatalf("warm-up detect-intent = %d, want 200", code)
	}
	if code := ts.send(t, "/v1/dialogflow/support/sessions/s-traced/detect-intent", `{"text":"hello","language_code":"en"}`, "00-"+traceID+"-"+parentID+"-01", "df-req-1"); code != 200 {
		t.Fatalf("detect-intent = %d, want 200", code)
	}
	md := ts.sims.df.Metadata()
	if len(md) != 2 || md[0].RequestID != "df-warm" {
		t.Fatalf("Dialogflow saw turns %+v, want the warm-up's and the traced one", md)
	}
	md = md[1:]
	if tid, _ := parts(md[0].TraceParent); tid != traceID {
		t.Errorf("Dialogflow's traceparent metadata = %q, want trace %s", md[0].TraceParent, traceID)
	}
	if md[0].RequestID != "df-req-1" {
		t.Errorf("Dialogflow's x-request-id metadata = %q, want df-req-1", md[0].RequestID)
	}
}

// TestTracingOff: without tracing.otlp_endpoint nothing is traced and no
// trace context goes upstream (an incoming traceparent is not sent on),
// but a job's CRM call still carries the queuing request's X-Request-Id.
func TestTracingOff(t *testing.T) {
	t.Parallel()
	crm := startSeenCRM(t)
	ts := startTraced(t, crm, nil)
	if ts.tracing.Enabled() {
		t.Fatal("tracing is on without otlp_endpoint")
	}
	tp := "00-" + popTraceID + "-" + popParentID + "-01"
	if code := ts.send(t, "/v1/screen-pop", `{"phone":"+14155550100"}`, tp, "off-req-1"); code != 200 {
		t.Fatalf("screen pop = %d, want 200", code)
	}
	rec := `{"subject":"Billing question","description":"invoice 42","channel":"voice"}`
	if code := ts.send(t, "/v1/interactions/call-off/record", rec, tp, "off-req-2"); code != 201 {
		t.Fatalf("POST record = %d, want 201", code)
	}
	for _, r := range append(crm.requests("GET"), crm.requests("POST")...) {
		if r.traceparent != "" {
			t.Errorf("%s %s carried traceparent %q with tracing off", r.method, r.path, r.traceparent)
		}
	}
	if posts := crm.requests("POST"); len(posts) != 1 || posts[0].requestID != "off-req-2" {
		t.Errorf("CRM POSTs = %+v, want one with X-Request-Id off-req-2", posts)
	}
}
