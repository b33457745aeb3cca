package gateway

import (
	"bytes"
	"context"
	"io"

	"github.com/holdline/holdline/gateway/api"
	"github.com/holdline/holdline/openapi"
)

// GetOpenAPI serves the data-plane contract.
func (s *Server) GetOpenAPI(ctx context.Context, _ api.GetOpenAPIRequestObject) (api.GetOpenAPIResponseObject, error) {
	return api.GetOpenAPI200ApplicationyamlResponse{Body: io.NopCloser(bytes.NewReader(openapi.DataPlane)), ContentLength: int64(len(openapi.DataPlane))}, nil
}
