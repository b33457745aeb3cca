package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/holdline/holdline"
)

// validator checks requests against the OpenAPI spec before the strict
// handler sees them: unknown JSON fields (additionalProperties: false),
// required fields, patterns, enums, content types. Its errors become
// problems that name the field.
type validator struct {
	router routers.Router
	log    *slog.Logger
}

// specRouter builds the router the validator matches requests with from
// an embedded spec (JSON). The validator checks requests only, so the spec
// is cut to what requests use before kin-openapi parses it (parsing is
// most of the start-up cost): each operation's responses become one
// placeholder, and the components no request refers to (response
// schemas, examples, shared responses) are dropped. The spec as a whole
// is checked by the package's tests (TestEmbeddedSpecsValidate), so the
// router skips the example and default checks at run time.
func specRouter(specJSON []byte) (routers.Router, error) {
	trimmed, err := requestSpec(specJSON)
	if err != nil {
		return nil, fmt.Errorf("gateway: trim spec: %w", err)
	}
	spec, err := openapi3.NewLoader().LoadFromData(trimmed)
	if err != nil {
		return nil, fmt.Errorf("gateway: load spec: %w", err)
	}
	spec.Servers = nil // match on paths only, whatever host the sidecar listens on
	rt, err := legacy.NewRouter(spec, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation())
	if err != nil {
		return nil, fmt.Errorf("gateway: route spec: %w", err)
	}
	return rt, nil
}

// requestSpec returns the spec with what request validation does not read
// removed: responses (one placeholder per operation, as an operation must
// have one), and every component that no path refers to, directly or
// through other components.
func requestSpec(specJSON []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(specJSON, &doc); err != nil {
		return nil, err
	}
	placeholder := map[string]any{"default": map[string]any{"description": "not checked by the request validator"}}
	paths, _ := doc["paths"].(map[string]any)
	for _, item := range paths {
		ops, _ := item.(map[string]any)
		for _, op := range ops {
			if o, ok := op.(map[string]any); ok {
				if _, ok := o["responses"]; ok {
					o["responses"] = placeholder
				}
			}
		}
	}
	components, _ := doc["components"].(map[string]any)
	if components == nil {
		return json.Marshal(doc)
	}
	// Keep the components reachable from the paths ("#/components/KIND/NAME"),
	// and the security schemes (named by operations, not by $ref).
	keep := map[string]bool{}
	var queue []any
	queue = append(queue, paths)
	for len(queue) > 0 {
		v := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				ref, ok := e.(string)
				if k != "$ref" || !ok {
					queue = append(queue, e)
					continue
				}
				if keep[ref] {
					continue
				}
				keep[ref] = true
				kind, name, ok := strings.Cut(strings.TrimPrefix(ref, "#/components/"), "/")
				if !ok || !strings.HasPrefix(ref, "#/components/") {
					continue // not a local component: kin-openapi reports it
				}
				if m, ok := components[kind].(map[string]any); ok && m[name] != nil {
					queue = append(queue, m[name])
				}
			}
		case []any:
			queue = append(queue, v...)
		}
	}
	for kind, c := range components {
		m, ok := c.(map[string]any)
		if !ok || kind == "securitySchemes" {
			continue
		}
		for name := range m {
			if !keep["#/components/"+kind+"/"+name] {
				delete(m, name)
			}
		}
	}
	return json.Marshal(doc)
}

var filterOptions = &openapi3filter.Options{
	// Security is enforced by requireAdmin, not by the spec.
	AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
	// The body is decoded once: the strict handler binds the value the
	// validator decoded and checked (runtime.BindJSONBody takes it from
	// the request body) instead of decoding the JSON a second time.
	KeepValidatedValue: true,
}

var binaryOptions = &openapi3filter.Options{
	ExcludeRequestBody: true, // streamed uploads are checked by their handler
	AuthenticationFunc: filterOptions.AuthenticationFunc,
}

func (v *validator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, err := v.router.FindRoute(r)
		if err != nil {
			// This middleware wraps only the spec's operations, so the
			// router matched this request on its raw path; the spec's
			// router matches the decoded one. They disagree when a path
			// parameter holds an encoded '/' (q%2Fz, a%2F..%2Fevil): fail
			// closed, before any handler or flow sees the value.
			writeProblem(w, r, v.log, holdline.Errorf(holdline.EINVALID, "path", "a path parameter holds an encoded '/' or is not a segment this API has"))
			return
		}
		opts := filterOptions
		if route.Operation.RequestBody != nil && route.Operation.RequestBody.Value.Content.Get("*/*") != nil {
			opts = binaryOptions
		}
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			writeProblem(w, r, v.log, invalidRequest(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

var (
	unsupportedProp = regexp.MustCompile(`property "([^"]+)" is unsupported`)
	missingProp     = regexp.MustCompile(`property "([^"]+)" is missing`)
)

// invalidRequest turns a kin-openapi validation error into a compact
// problem naming the field (never the multi-line schema dump).
func invalidRequest(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return holdline.Errorf(holdline.ETOOLARGE, "", "the request body is larger than this endpoint accepts")
	}
	re, ok := errors.AsType[*openapi3filter.RequestError](err)
	if !ok {
		return holdline.Errorf(holdline.EINVALID, "", "the request does not match the API")
	}
	if re.Parameter != nil {
		field := re.Parameter.Name
		detail := re.Reason
		if se, ok := errors.AsType[*openapi3.SchemaError](re.Err); ok {
			detail = se.Reason
		} else if detail == "" && re.Err != nil {
			detail = re.Err.Error()
		}
		return holdline.Errorf(holdline.EINVALID, field, "%s %q: %s", re.Parameter.In, field, detail)
	}
	if pe, ok := errors.AsType[*openapi3filter.ParseError](re.Err); ok {
		detail := pe.Reason
		if pe.Cause != nil {
			detail = pe.Cause.Error()
		}
		return holdline.Errorf(holdline.EMALFORMED, "", "the body is not valid JSON: %s", firstLine(detail))
	}
	if se, ok := errors.AsType[*openapi3.SchemaError](re.Err); ok {
		field := strings.Join(se.JSONPointer(), ".")
		if m := unsupportedProp.FindStringSubmatch(se.Reason); m != nil {
			if field != "" {
				field += "."
			}
			return holdline.Errorf(holdline.EUNKNOWNFIELD, field+m[1], "unknown field %q", m[1])
		}
		if se.SchemaField == "oneOf" || se.SchemaField == "anyOf" {
			if p := exactlyOne(se, field); p != nil {
				return p
			}
		}
		if se.SchemaField == "required" {
			if m := missingProp.FindStringSubmatch(se.Reason); m != nil {
				// kin-openapi's pointer already ends with the missing key.
				if field != m[1] && !strings.HasSuffix(field, "."+m[1]) {
					field = strings.TrimPrefix(field+"."+m[1], ".")
				}
				return holdline.Errorf(holdline.EINVALID, field, "%q is required", m[1])
			}
		}
		return holdline.Errorf(holdline.EINVALID, field, "%s: %s", orBody(field), se.Reason)
	}
	if re.RequestBody != nil && errors.Is(re.Err, openapi3filter.ErrInvalidRequired) {
		return holdline.Errorf(holdline.EINVALID, "", "a JSON request body is required")
	}
	if l := strings.ToLower(re.Error()); strings.Contains(l, "content type") || strings.Contains(l, "content-type") {
		return holdline.Errorf(holdline.EUNSUPPORTEDMEDIA, "", "send the body as application/json")
	}
	return holdline.Errorf(holdline.EINVALID, "", "%s", re.Reason)
}

func orBody(field string) string {
	if field == "" {
		return "body"
	}
	return field
}

// exactlyOne names the field for a failed "exactly one of" (oneOf)
// or "at least one of" (anyOf) rule whose alternatives each only require
// one property (detect-intent's text, event or dtmf; a replay's state or
// ids); an alternative may also state its property's schema. With none
// present it names the first alternative; with several under oneOf, the
// second one present, as the flows do; with one present that breaks its
// schema, that one. It returns nil for any other oneOf or anyOf.
func exactlyOne(se *openapi3.SchemaError, at string) *holdline.Error {
	obj, ok := se.Value.(map[string]any)
	if !ok || se.Schema == nil {
		return nil
	}
	alts, rule := se.Schema.OneOf, "exactly one"
	if se.SchemaField == "anyOf" {
		alts, rule = se.Schema.AnyOf, "one"
	}
	var names, present []string
	var presentAlt *openapi3.Schema
	for _, alt := range alts {
		if alt.Value == nil || len(alt.Value.Required) != 1 || len(alt.Value.Properties) > 1 {
			return nil
		}
		name := alt.Value.Required[0]
		if len(alt.Value.Properties) == 1 && alt.Value.Properties[name] == nil {
			return nil
		}
		names = append(names, name)
		if _, ok := obj[name]; ok {
			present = append(present, name)
			presentAlt = alt.Value
		}
	}
	if len(names) == 0 {
		return nil
	}
	prefix := ""
	if at != "" {
		prefix = at + "."
	}
	list := names[0]
	if len(names) > 1 {
		list = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	switch {
	case len(present) == 0:
		return holdline.Errorf(holdline.EINVALID, prefix+names[0], "%s of %s is required", rule, list)
	case len(present) > 1 && se.SchemaField == "oneOf":
		return holdline.Errorf(holdline.EINVALID, prefix+present[1], "exactly one of %s may be set, not %s and %s", list, present[0], present[1])
	case len(present) == 1 && presentAlt.Properties[present[0]] != nil:
		// The one alternative given breaks its own property's schema
		// (an empty text, a bad dtmf): name it.
		name := present[0]
		if err := presentAlt.Properties[name].Value.VisitJSON(obj[name]); err != nil {
			detail := err.Error()
			if pe, ok := errors.AsType[*openapi3.SchemaError](err); ok {
				detail = pe.Reason
			}
			return holdline.Errorf(holdline.EINVALID, prefix+name, "%s: %s", name, detail)
		}
	}
	return nil
}
