package contract

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/openapi"
)

// globalOps change what every later call of a sidecar sees (a forced
// breaker, a failover, an injected fault that could add hours of latency
// to the CRM); the property test runs them on a sidecar of their own.
var globalOps = []string{"setBreaker", "setEndpoint", "addFault", "deleteFault", "listFaults"}

// propertyRuns reads the run's seed and count: HOLDLINE_PROPERTY_SEED
// (default 1) and HOLDLINE_PROPERTY_COUNT (requests of each kind, valid
// and invalid, per operation; default 10). `make fuzz` sets both.
func propertyRuns(t *testing.T) (seed uint64, count int) {
	seed, count = 1, 10
	if s := os.Getenv("HOLDLINE_PROPERTY_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HOLDLINE_PROPERTY_SEED=%q: %v", s, err)
		}
		seed = n
	}
	if s := os.Getenv("HOLDLINE_PROPERTY_COUNT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("HOLDLINE_PROPERTY_COUNT=%q: want a positive integer", s)
		}
		count = n
	}
	return seed, count
}

// TestPropertySpec sends every operation of both specs valid requests and
// invalid ones (one rule of the schema broken), built from the schemas
// with a seeded source, to running dev sidecars, and asserts of every
// answer: no 5xx, a 4xx is application/problem+json, and the answer
// (status, headers, body) validates against the operation's responses in
// the spec. A failure names the seed and the request; rerun it with
// HOLDLINE_PROPERTY_SEED.
func TestPropertySpec(t *testing.T) {
	seed, count := propertyRuns(t)
	t.Logf("seed %d, %d valid and %d invalid requests per operation", seed, count, count)
	// Writes that queue behind an interaction's earlier job wait out the
	// write budget before answering 202: keep it short.
	short := func(c *config.Config) { c.Outbox.WriteBudget = config.Duration(50 * time.Millisecond) }
	shared, own := startSidecar(t, short), startSidecar(t, short)
	for _, plane := range []struct {
		name string
		doc  []byte
	}{{"data", openapi.DataPlane}, {"admin", openapi.AdminPlane}} {
		doc, err := openapi3.NewLoader().LoadFromData(plane.doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range doc.Paths.InMatchingOrder() {
			item := doc.Paths.Value(path)
			for method, op := range item.Operations() {
				target := shared
				if slices.Contains(globalOps, op.OperationID) {
					target = own
				}
				base := target.data
				if plane.name == "admin" {
					base = target.admin
				}
				route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
				t.Run(plane.name+"/"+op.OperationID, func(t *testing.T) {
					h := fnv.New64a()
					h.Write([]byte(op.OperationID))
					v := &values{r: rand.New(rand.NewPCG(seed, h.Sum64()))}
					seen := map[string]int{}
					for i := range 2 * count {
						// Odd requests break one rule, when the operation
						// has one to break.
						req := v.request(route, i%2 == 0)
						status := check(t, base, route, req)
						seen[fmt.Sprintf("%s %d", map[bool]string{true: "valid", false: "invalid"}[req.mutation == ""], status)]++
					}
					t.Logf("answers: %v", seen)
				})
			}
		}
	}
}

// request is one request the property test sends, and how it was built.
type request struct {
	method, path, query string
	params              map[string]string // path parameters, decoded
	header              http.Header
	body                []byte
	mutation            string // which rule an invalid request breaks; empty when valid
}

func (r request) String() string {
	return fmt.Sprintf("%s %s?%s header=%v body=%.300q (%s)", r.method, r.path, r.query, r.header, r.body, cmpOr(r.mutation, "valid"))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// uploadTypes are the recording media types the data plane takes.
var uploadTypes = []string{"audio/wav", "audio/mpeg", "audio/ogg", "application/octet-stream"}

// request builds a request for the route: valid, or with one rule
// broken.
func (v *values) request(route *routers.Route, valid bool) request {
	req := request{method: route.Method, params: map[string]string{}, header: http.Header{}}
	var mutations []func()
	params := append(slices.Clone(route.PathItem.Parameters), route.Operation.Parameters...)
	query := url.Values{}
	for _, ref := range params {
		p := ref.Value
		if p.Name == "Repr-Digest" {
			continue // set from the body below
		}
		if !p.Required && v.r.IntN(2) == 0 {
			continue
		}
		val := fmt.Sprint(v.param(p))
		switch p.In {
		case "path":
			req.params[p.Name] = val
			mutations = append(mutations, func() {
				bad := "a%2F..%2F..%2Fevil"
				if x, ok := v.invalidText(p.Schema.Value); ok && v.r.IntN(2) == 0 {
					bad = url.PathEscape(fmt.Sprint(x))
				}
				req.params[p.Name] = "\x00raw:" + bad
				req.mutation = "path " + p.Name + "=" + bad
			})
		case "query":
			query.Set(p.Name, val)
			if x, ok := v.invalidText(p.Schema.Value); ok {
				mutations = append(mutations, func() {
					query.Set(p.Name, fmt.Sprint(x))
					req.mutation = fmt.Sprintf("query %s=%v", p.Name, x)
				})
			}
		case "header":
			req.header.Set(p.Name, val)
			if x, ok := v.invalidText(p.Schema.Value); ok {
				mutations = append(mutations, func() {
					req.header.Set(p.Name, fmt.Sprint(x))
					req.mutation = fmt.Sprintf("header %s=%v", p.Name, x)
				})
			}
		}
	}
	var body any
	if rb := route.Operation.RequestBody; rb != nil && (rb.Value.Required || v.r.IntN(2) == 0) {
		if mt := rb.Value.Content["application/json"]; mt != nil { // Get would match */* too
			s := mt.Schema.Value
			obj := v.valid(s, 0)
			body = obj
			req.header.Set("Content-Type", "application/json")
			mutations = append(mutations, v.bodyMutations(s, obj, &body, &req)...)
		} else {
			raw := make([]byte, v.r.IntN(2048))
			for i := range raw {
				raw[i] = byte(v.r.IntN(256))
			}
			req.body = raw
			req.header.Set("Content-Type", uploadTypes[v.r.IntN(len(uploadTypes))])
			if v.r.IntN(2) == 0 {
				sum := sha256.Sum256(raw)
				req.header.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
			}
			mutations = append(mutations, func() {
				req.header.Set("Content-Type", "text/plain")
				req.mutation = "upload as text/plain"
			})
		}
	}
	if !valid && len(mutations) > 0 {
		mutations[v.r.IntN(len(mutations))]()
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		req.body = b
	}
	if strings.HasPrefix(req.mutation, "malformed") {
		req.body = []byte(`{"`)
	}
	req.path = route.Path
	for name, val := range req.params {
		enc, raw := strings.CutPrefix(val, "\x00raw:")
		if !raw {
			enc = url.PathEscape(val)
		} else {
			req.params[name] = must(url.PathUnescape(enc))
		}
		req.path = strings.Replace(req.path, "{"+name+"}", enc, 1)
	}
	req.query = query.Encode()
	return req
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// param returns a valid value for a parameter: for ids, often one the
// other requests also use, so that reads find what writes made.
func (v *values) param(p *openapi3.Parameter) any {
	if v.r.IntN(3) > 0 {
		switch p.Name {
		case "interaction_id", "interaction":
			return []string{"prop-a", "prop-b"}[v.r.IntN(2)]
		case "agent":
			return "support"
		}
	}
	return v.valid(p.Schema.Value, 0)
}

// invalidText is invalid for a parameter, whose value travels as text:
// 12345 is a fine string there, so a value whose text the schema takes
// is not used.
func (v *values) invalidText(s *openapi3.Schema) (any, bool) {
	for range 5 {
		x, ok := v.invalid(s)
		if !ok {
			return nil, false
		}
		if !s.Type.Is("string") || s.VisitJSON(fmt.Sprint(x)) != nil {
			return x, true
		}
	}
	return nil, false
}

// bodyMutations are the ways to break a JSON body: a required property
// dropped, an unknown one added, one property given an invalid value,
// malformed JSON, the wrong media type.
func (v *values) bodyMutations(s *openapi3.Schema, obj any, body *any, req *request) []func() {
	out := []func(){
		func() { req.mutation = "malformed JSON" },
		func() { req.header.Set("Content-Type", "text/plain"); req.mutation = "body as text/plain" },
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return out
	}
	if len(s.Required) > 0 {
		out = append(out, func() {
			name := s.Required[v.r.IntN(len(s.Required))]
			delete(m, name)
			req.mutation = "without required " + name
		})
	}
	if s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has {
		out = append(out, func() { m["bogus"] = true; req.mutation = "unknown property bogus" })
	}
	for name, p := range s.Properties {
		if x, ok := v.invalid(p.Value); ok {
			out = append(out, func() { m[name] = x; req.mutation = fmt.Sprintf("%s=%v", name, x) })
		}
	}
	return out
}

// check sends req and asserts the answer's properties; it returns the
// status.
func check(t *testing.T, base string, route *routers.Route, req request) int {
	t.Helper()
	u := base + req.path
	if req.query != "" {
		u += "?" + req.query
	}
	hr, err := http.NewRequestWithContext(t.Context(), req.method, u, bytes.NewReader(req.body))
	if err != nil {
		t.Fatalf("%v: %s", err, req)
	}
	hr.Header = req.header.Clone()
	hr.Header.Set("Authorization", "Bearer "+adminToken)
	client := &http.Client{Timeout: 30 * time.Second} // a hang guard, not a bound
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatalf("%v: %s", err, req)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer: %v: %s", err, req)
	}
	if req.mutation == "" && resp.StatusCode == http.StatusBadRequest {
		// A rule the schema does not state (it is in the description:
		// fault durations, the reason a move needs); worth reading in a
		// long run, not a failure.
		t.Logf("a request valid by the schema answered 400 %.300s\nrequest: %s", body, req)
	}
	if resp.StatusCode >= 500 {
		t.Errorf("answered %d %s: %s", resp.StatusCode, body, req)
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("answered %d as %q, want application/problem+json: %s", resp.StatusCode, resp.Header.Get("Content-Type"), req)
	}
	// Validate against the route the request was built for: a request
	// the spec's router cannot match (an encoded '/') still answers
	// from this operation's declared responses.
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: req.params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	// The spec's YAML document and Prometheus text are raw text a client
	// reads as bytes (type string); kin-openapi would decode the YAML
	// into an object. Their status and headers are still checked.
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
		in.Options.ExcludeResponseBody = true
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(t.Context(), in); err != nil {
		t.Errorf("the answer %d does not match the spec: %v\n%.300s\nrequest: %s", resp.StatusCode, err, body, req)
	}
	return resp.StatusCode
}
