package gateway

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/gateway/api"
)

// handlerStatuses are the error statuses each operation's handler can
// answer (read from the handlers: notConfigured is 503, the flows' sentinel
// errors map to 404/409/507, drills off is 404). The middleware's statuses
// are derived from the operation in middlewareStatuses.
var handlerStatuses = map[string][]int{
	// data plane
	"screenPop":            {503},
	"getInteraction":       {404, 503},
	"createRecord":         {409, 503},
	"addComment":           {409, 503},
	"uploadRecording":      {409, 503, 507},
	"listDialogflowAgents": {503},
	"detectIntent":         {404, 503},
	"verifyToken":          {503},
	// admin plane
	"readyz":      {503},
	"listFaults":  {404},
	"addFault":    {404},
	"deleteFault": {404},
	"setBreaker":  {404, 503},
	"setEndpoint": {404, 409, 503},
	"getAudit":    {503},
	"listJobs":    {503},
	"getJob":      {404, 503},
	"replayJob":   {404, 409, 503},
	"replayJobs":  {503},
	"purgeJobs":   {503},
}

// middlewareStatuses are the statuses the middleware can answer for an
// operation before its handler runs: validation 400 for parameters and
// bodies, the body limit's 413, the content-type check's 415 (the
// recording upload's handler checks its media type itself) and the admin
// token's 401.
func middlewareStatuses(path string, item *openapi3.PathItem, op *openapi3.Operation) []int {
	var out []int
	if op.RequestBody != nil {
		out = append(out, 400, 413, 415)
	} else if len(op.Parameters)+len(item.Parameters) > 0 {
		out = append(out, 400)
	}
	if strings.HasPrefix(path, "/v1/admin/") {
		out = append(out, 401)
	}
	return out
}

// opID is the operation's id as the spec spells it (the generator
// capitalises the ids in the embedded copy).
func opID(op *openapi3.Operation) string {
	if op.OperationID == "" {
		return ""
	}
	return strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]
}

type specOp struct {
	plane, path, method string
	item                *openapi3.PathItem
	op                  *openapi3.Operation
}

func specOps(t *testing.T) []specOp {
	t.Helper()
	dataSpec, err := api.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	adminSpec, err := adminapi.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	var out []specOp
	for plane, spec := range map[string]*openapi3.T{"data": dataSpec, "admin": adminSpec} {
		for path, item := range spec.Paths.Map() {
			for method, op := range item.Operations() {
				out = append(out, specOp{plane, path, method, item, op})
			}
		}
	}
	slices.SortFunc(out, func(a, b specOp) int { return strings.Compare(a.op.OperationID, b.op.OperationID) })
	return out
}

// TestEveryAnswerIsDeclared fails when an operation of either spec can
// answer a status it does not declare, when it declares no 4xx, or when an
// error answer is not the problem+json schema: a strict generated client
// would fail on it with a decode error instead of a typed problem.
func TestEveryAnswerIsDeclared(t *testing.T) {
	seen := map[string]bool{}
	for _, so := range specOps(t) {
		id := opID(so.op)
		seen[id] = true
		t.Run(so.plane+"/"+id, func(t *testing.T) {
			want := append(middlewareStatuses(so.path, so.item, so.op), handlerStatuses[id]...)
			for _, code := range want {
				if so.op.Responses.Status(code) == nil {
					t.Errorf("%s %s can answer %d; the spec does not declare it", so.method, so.path, code)
				}
			}
			has4xx := false
			for code, ref := range so.op.Responses.Map() {
				n, err := strconv.Atoi(strings.ReplaceAll(code, "X", "0"))
				if err != nil || n < 400 {
					continue
				}
				has4xx = has4xx || n/100 == 4
				if id == "readyz" && code == "503" {
					continue // the probe answers its Health body
				}
				mt := ref.Value.Content.Get("application/problem+json")
				if mt == nil || mt.Schema == nil || !strings.HasSuffix(mt.Schema.Ref, "/Problem") {
					t.Errorf("response %s is not application/problem+json with the Problem schema", code)
				}
			}
			if !has4xx {
				t.Error("declares no 4xx response")
			}
		})
	}
	for id := range handlerStatuses {
		if !seen[id] {
			t.Errorf("handlerStatuses names %s, which neither spec has", id)
		}
	}
}

// TestMiddlewareAnswersAreDeclared sends each operation with a JSON body
// the three requests the middleware refuses before any handler runs (the
// wrong media type, a body past the limit, malformed JSON) and checks that
// the answer is a problem with a status the operation declares.
func TestMiddlewareAnswersAreDeclared(t *testing.T) {
	p := newPlanes(t, nil)
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for _, so := range specOps(t) {
		if so.op.RequestBody == nil || so.op.RequestBody.Value.Content["application/json"] == nil {
			continue
		}
		base := p.data.URL
		hdr := map[string]string{}
		if so.plane == "admin" {
			base = p.admin.URL
			hdr["Authorization"] = "Bearer " + testToken
		}
		url := base + param.ReplaceAllStringFunc(so.path, func(m string) string {
			if m == "{name}" {
				return "crm" // the dependency enum
			}
			return "a1"
		})
		for _, tc := range []struct {
			name, contentType, body string
			want                    int
		}{
			{"media type", "text/plain", `{}`, http.StatusUnsupportedMediaType},
			{"too large", "application/json", `{"reason":"` + strings.Repeat("x", 300) + `"}`, http.StatusRequestEntityTooLarge},
			{"malformed", "application/json", `{`, http.StatusBadRequest},
		} {
			t.Run(fmt.Sprintf("%s/%s", opID(so.op), tc.name), func(t *testing.T) {
				resp, body := do(t, so.method, url, tc.contentType, tc.body, hdr)
				if resp.StatusCode != tc.want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q, want application/problem+json", ct)
				}
				if so.op.Responses.Status(resp.StatusCode) == nil {
					t.Errorf("%s %s answered %d, which its spec does not declare", so.method, so.path, resp.StatusCode)
				}
			})
		}
	}
}
