package openapi

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestSpecsAreValid(t *testing.T) {
	for name, doc := range map[string][]byte{"holdline.yaml": DataPlane, "admin.yaml": AdminPlane} {
		t.Run(name, func(t *testing.T) {
			spec, err := openapi3.NewLoader().LoadFromData(doc)
			if err != nil {
				t.Fatalf("load %s: %v", name, err)
			}
			if err := spec.Validate(t.Context()); err != nil {
				t.Fatalf("%s is not a valid OpenAPI document: %v", name, err)
			}
			for path, item := range spec.Paths.Map() {
				for method, op := range item.Operations() {
					if op.OperationID == "" {
						t.Errorf("%s %s has no operationId", method, path)
					}
				}
			}
		})
	}
}
