package gateway

import (
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/gateway/api"
)

var embeddedSpecs = []struct {
	name string
	full func() (*openapi3.T, error)
	raw  func() ([]byte, error)
}{
	{"data", api.GetSpec, api.GetSpecJSON},
	{"admin", adminapi.GetSpec, adminapi.GetSpecJSON},
}

// TestEmbeddedSpecsValidate checks each embedded spec whole, examples and
// defaults included: the run-time router skips those checks.
func TestEmbeddedSpecsValidate(t *testing.T) {
	for _, s := range embeddedSpecs {
		doc, err := s.full()
		if err != nil {
			t.Fatalf("%s spec: %v", s.name, err)
		}
		if err := doc.Validate(t.Context(), openapi3.EnableExamplesValidation(), openapi3.EnableSchemaDefaultsValidation(), openapi3.EnableSchemaPatternValidation()); err != nil {
			t.Errorf("%s spec does not validate: %v", s.name, err)
		}
	}
}

// TestRequestSpecKeepsRequests checks that the spec the validator parses
// describes every operation's request (parameters, body, security) exactly
// as the full spec does, and lost only responses and unused components.
func TestRequestSpecKeepsRequests(t *testing.T) {
	for _, s := range embeddedSpecs {
		full, err := s.full()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.raw()
		if err != nil {
			t.Fatal(err)
		}
		trimmed, err := requestSpec(raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(trimmed) >= len(raw) {
			t.Errorf("%s: request spec is %d bytes, the full one %d: nothing trimmed", s.name, len(trimmed), len(raw))
		}
		doc, err := openapi3.NewLoader().LoadFromData(trimmed)
		if err != nil {
			t.Fatalf("%s: trimmed spec: %v", s.name, err)
		}
		if err := doc.Validate(t.Context()); err != nil {
			t.Fatalf("%s: trimmed spec does not validate: %v", s.name, err)
		}
		if got, want := len(doc.Paths.Map()), len(full.Paths.Map()); got != want {
			t.Fatalf("%s: %d paths, want %d", s.name, got, want)
		}
		n := 0
		for path, item := range full.Paths.Map() {
			titem := doc.Paths.Value(path)
			if titem == nil {
				t.Errorf("%s: path %s lost", s.name, path)
				continue
			}
			if got, want := mustJSON(t, titem.Parameters), mustJSON(t, item.Parameters); got != want {
				t.Errorf("%s %s: path parameters differ:\n got %s\nwant %s", s.name, path, got, want)
			}
			tops := titem.Operations()
			for method, op := range item.Operations() {
				n++
				top := tops[method]
				if top == nil {
					t.Errorf("%s: %s %s lost", s.name, method, path)
					continue
				}
				for what, pair := range map[string][2]any{
					"parameters":  {top.Parameters, op.Parameters},
					"requestBody": {top.RequestBody, op.RequestBody},
					"security":    {top.Security, op.Security},
				} {
					if got, want := mustJSON(t, pair[0]), mustJSON(t, pair[1]); got != want {
						t.Errorf("%s %s %s: %s differ:\n got %s\nwant %s", s.name, method, path, what, got, want)
					}
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no operations compared", s.name)
		}
	}
}

// mustJSON renders v as kin-openapi marshals it: a $ref stays a $ref. The
// trimmed spec loads only if every $ref in it resolves, and requestSpec
// never edits a component it keeps, so equal refs name equal schemas.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
