package resilience

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/holdline/holdline/internal/upstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// faultTransport applies a dependency's drill faults to HTTP requests. It
// is the bottom of the client, beneath any policy, so the policies see
// injected failures exactly as they would real ones.
type faultTransport struct {
	dep  *Dependency
	next http.RoundTripper
}

func (t *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.dep.faults.any() {
		return t.next.RoundTrip(req)
	}
	e, ok := t.dep.faults.roll(t.dep.name, t.dep.endpointOf(req.URL.Host))
	if !ok {
		return t.next.RoundTrip(req)
	}
	if err := sleep(req.Context(), e.latency); err != nil {
		closeBody(req)
		return nil, err
	}
	if !e.fail {
		return t.next.RoundTrip(req)
	}
	closeBody(req)
	switch {
	case e.status != 0:
		return syntheticResponse(req, e.status), nil
	case e.reset:
		return nil, resetError()
	}
	return nil, fmt.Errorf("%s: %w", t.dep.name, ErrInjected)
}

// Inject applies the dependency's active faults to a call that does not go
// through HTTPClient (a local blob directory, Redis) and goes to the active
// endpoint: see InjectAt.
func (d *Dependency) Inject(ctx context.Context) error {
	return d.InjectAt(ctx, d.activeEndpointName())
}

// InjectAt applies the dependency's active faults to a call that does not
// go through HTTPClient and goes to endpoint ("primary" or "secondary"),
// whichever is active: Dialogflow names the role of the environment it
// dials, so a fault on one region hits that region's calls only. A fault
// without an endpoint hits every call. It waits the injected latency
// (returning ctx's error if ctx ends first), then with the faults' error
// rate returns an *upstream.StatusError when the fault has a status, a
// connection-reset error when it has reset, else ErrInjected. It returns
// nil when no fault applies.
func (d *Dependency) InjectAt(ctx context.Context, endpoint string) error {
	e, ok := d.faults.roll(d.name, endpoint)
	if !ok {
		return nil
	}
	if err := sleep(ctx, e.latency); err != nil {
		return err
	}
	if !e.fail {
		return nil
	}
	switch {
	case e.status != 0:
		se := &upstream.StatusError{Code: e.status}
		if e.status == http.StatusTooManyRequests {
			se.RetryAfter = 1e9
		}
		return se
	case e.reset:
		return resetError()
	}
	return fmt.Errorf("%s: %w", d.name, ErrInjected)
}

func syntheticResponse(req *http.Request, status int) *http.Response {
	h := http.Header{"Content-Type": {"application/json"}, "X-Holdline-Fault": {"injected"}}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader("{}")),
		ContentLength: 2,
		Request:       req,
	}
}

// resetError looks like a peer resetting the connection:
// errors.Is(err, syscall.ECONNRESET) holds.
func resetError() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// endpointOf names the configured endpoint whose host:port is host:
// "primary", "secondary", or "" for neither.
func (d *Dependency) endpointOf(host string) string {
	for _, e := range [...]struct{ name, url string }{{"primary", d.policy.Endpoints.Primary}, {"secondary", d.policy.Endpoints.Secondary}} {
		if e.url == "" {
			continue
		}
		if u, err := url.Parse(e.url); err == nil && strings.EqualFold(u.Host, host) {
			return e.name
		}
	}
	return ""
}

// activeEndpointName is the endpoint new calls go to.
func (d *Dependency) activeEndpointName() string {
	if d.secondaryActive() {
		return "secondary"
	}
	return "primary"
}

// headerTransport sets what every call a dependency's HTTP client makes
// carries from its context: the id of the request being served (see
// upstream.WithRequestID) as X-Request-Id, unless the adapter set one
// itself, and, with a propagator (tracing on), the W3C trace context of the
// attempt's span. It clones the request once, rather than changing the
// caller's, and only when it has something to add.
type headerTransport struct {
	prop propagation.TextMapPropagator // nil: tracing off
	next http.RoundTripper
}

func (t headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	id := upstream.RequestID(ctx)
	setID := id != "" && req.Header.Get(upstream.RequestIDHeader) == ""
	traced := t.prop != nil && trace.SpanContextFromContext(ctx).IsValid()
	if setID || traced {
		req = req.Clone(ctx)
		if setID {
			req.Header.Set(upstream.RequestIDHeader, id)
		}
		if traced {
			t.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
		}
	}
	return t.next.RoundTrip(req)
}
