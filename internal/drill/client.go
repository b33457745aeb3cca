package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiError is a non-2xx answer from the sidecar, with its RFC 9457 problem.
type apiError struct {
	Method, Path string
	Status       int
	// Type is the problem's stable type URI: the drill branches on it
	// (problemBase + a slug), never on the text.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// newAPIError is the error for a non-2xx answer with body, decoding its
// problem+json fields when it has them. Both the admin client and the
// data-plane client return it.
func newAPIError(method, path string, status int, body []byte) *apiError {
	e := &apiError{Method: method, Path: path, Status: status}
	_ = json.Unmarshal(body, e)
	return e
}

// problemBase prefixes every problem type the sidecar answers with (see
// README, Errors); the slug after it is stable.
const problemBase = "https://holdline.dev/problems/"

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s %s: %d", e.Method, e.Path, e.Status)
	if e.Title != "" {
		msg += " " + e.Title
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Status == http.StatusUnauthorized {
		msg += " (set HOLDLINE_ADMIN_TOKEN)"
	}
	return msg
}

// notConfigured reports whether err is the not-configured problem a
// sidecar answers for an operation whose dependency is not wired on it:
// the operation is then unavailable on this sidecar, not failing.
func notConfigured(err error) bool {
	e, ok := errors.AsType[*apiError](err)
	return ok && e.Type == problemBase+"not-configured"
}

// isStatus reports whether err is an answer with HTTP status code.
func isStatus(err error, code int) bool {
	e, ok := errors.AsType[*apiError](err)
	return ok && e.Status == code
}

// api is a small JSON client for one listener of the sidecar.
type api struct {
	base  string
	token string // sent as a bearer token when set
	hc    *http.Client
}

// do sends body (JSON, or raw bytes with the given content type when body
// is a rawBody) and decodes a 2xx JSON answer into out. It returns the
// status code, and an *apiError for a non-2xx answer.
func (a *api) do(ctx context.Context, method, path string, hdr http.Header, body, out any) (int, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, ctype = bytes.NewReader(b.data), b.contentType
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, newAPIError(method, strings.SplitN(path, "?", 2)[0], resp.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// rawBody is a non-JSON request body.
type rawBody struct {
	data        []byte
	contentType string
}
