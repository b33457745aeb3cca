package blob

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

	"github.com/holdline/holdline/internal/resilience"
	"github.com/holdline/holdline/internal/upstream"
)

// NewGCSClient returns a storage client whose every HTTP request runs
// through dep (the "blob" dependency): its bulkhead, breaker and stats by
// way of resilience.Write (once: the storage client retries by itself, and
// an upload body cannot be replayed), then its own transport with the
// egress allowlist and drill faults beneath. endpoint, when set, is an emulator base URL
// (fake-gcs-server, as in dev mode) used without credentials; empty means
// storage.googleapis.com with Application Default Credentials.
//
// The policy timeout is not applied to requests: one request carries a
// whole chunk (GCSOptions.ChunkSize), and the storage client bounds each
// with ChunkTransferTimeout and ChunkRetryDeadline; a request that takes
// longer than dependencies.blob.timeout and then fails still counts as a
// timeout against the breaker. Bodies are never buffered (failsafehttp
// would read whole uploads into memory).
func NewGCSClient(ctx context.Context, dep *resilience.Dependency, endpoint string, extra ...option.ClientOption) (*storage.Client, error) {
	var base http.RoundTripper = &policyTransport{dep: dep, next: dep.HTTPClient().Transport}
	opts := append([]option.ClientOption{}, extra...)
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(endpoint, "/")+"/storage/v1/"), option.WithoutAuthentication())
	} else {
		t, err := htransport.NewTransport(ctx, base, option.WithScopes(storage.ScopeFullControl))
		if err != nil {
			return nil, fmt.Errorf("blob: gcs credentials: %w", err)
		}
		base = t
	}
	opts = append(opts, option.WithHTTPClient(&http.Client{Transport: base}))
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: gcs client: %w", err)
	}
	return c, nil
}

// policyTransport runs each request through the dependency's policy chain
// without buffering its body.
type policyTransport struct {
	dep  *resilience.Dependency
	next http.RoundTripper
}

func (t *policyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	_, err := resilience.Write(req.Context(), t.dep, operation(req), func(context.Context) (struct{}, error) {
		// The request keeps its own context (see NewGCSClient): its
		// response body is read after this returns.
		r, err := t.next.RoundTrip(req)
		if err != nil {
			return struct{}{}, err
		}
		resp = r
		if r.StatusCode >= 500 || r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusRequestTimeout {
			return struct{}{}, &upstream.StatusError{Code: r.StatusCode}
		}
		return struct{}{}, nil
	})
	if resp != nil {
		return resp, nil // the storage client handles statuses and retries
	}
	if req.Body != nil {
		req.Body.Close() // refused before sending: RoundTripper must close it
	}
	return nil, err
}

func operation(req *http.Request) string {
	switch {
	case strings.Contains(req.URL.Path, "/upload/"):
		return "upload"
	case req.Method == http.MethodGet && (req.URL.Query().Get("alt") == "media" || !strings.Contains(req.URL.Path, "/storage/v1/")):
		return "read"
	case req.Method == http.MethodDelete:
		return "delete"
	}
	return "metadata"
}
