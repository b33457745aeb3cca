package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdline/holdline/gateway/adminapi"
)

// adminClient talks to a running sidecar's admin API through the client
// generated from openapi/admin.yaml.
type adminClient struct {
	base  string
	token string
	api   *adminapi.ClientWithResponses
}

// errUnreachable marks a sidecar that did not answer at all.
var errUnreachable = errors.New("sidecar unreachable")

// addAdminFlags adds --admin to an online command.
func addAdminFlags(c *cobra.Command, admin *string) {
	c.Flags().StringVar(admin, "admin", "", "admin URL of the sidecar (default $HOLDLINE_ADMIN or http://127.0.0.1:9901)")
}

// adminURL resolves --admin, $HOLDLINE_ADMIN and the default.
func adminURL(e env, admin string) string {
	if admin == "" {
		admin = e.getenv("HOLDLINE_ADMIN")
	}
	if admin == "" {
		admin = "http://127.0.0.1:9901"
	}
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	return strings.TrimSuffix(admin, "/")
}

// newAdminClient returns a client of the sidecar at --admin (or
// $HOLDLINE_ADMIN, or the default) that sends $HOLDLINE_ADMIN_TOKEN as a
// bearer token when it is set. Calls that get no answer at all fail with
// errUnreachable.
func newAdminClient(e env, admin string) (*adminClient, error) {
	c := &adminClient{base: adminURL(e, admin), token: e.getenv("HOLDLINE_ADMIN_TOKEN")}
	hc := &http.Client{Timeout: 30 * time.Second}
	api, err := adminapi.NewClientWithResponses(c.base,
		adminapi.WithHTTPClient(reachDoer{hc: hc, base: c.base}),
		adminapi.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("--admin %q: %w", c.base, err)
	}
	c.api = api
	return c, nil
}

// reachDoer marks transport failures (no answer at all) errUnreachable.
type reachDoer struct {
	hc   *http.Client
	base string
}

func (d reachDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errUnreachable, d.base, err)
	}
	return resp, nil
}

// apiError is a non-2xx answer of the admin API. Problem is its RFC 9457
// body (nil when it sent none), for callers that branch on its type.
type apiError struct {
	Method, Path string
	// Status is the HTTP status code; StatusText the whole status line.
	Status     int
	StatusText string
	Problem    *adminapi.Problem
}

// Error reads "PUT /v1/admin/...: 409 Conflict: detail", with a hint to
// set the token on a 401.
func (e *apiError) Error() string {
	if e.Problem == nil || e.Problem.Title == "" {
		return fmt.Sprintf("%s %s: %s", e.Method, e.Path, e.StatusText)
	}
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Problem.Status, e.Problem.Title)
	if e.Problem.Detail != nil && *e.Problem.Detail != "" {
		msg += ": " + *e.Problem.Detail
	}
	if e.Status == http.StatusUnauthorized {
		msg += " (set HOLDLINE_ADMIN_TOKEN)"
	}
	return msg
}

// answered returns nil for a 2xx answer and an *apiError, carrying the
// problem+json body when there is one, for any other. hr and body are a
// generated response's HTTPResponse and Body.
func answered(hr *http.Response, body []byte) error {
	if hr.StatusCode/100 == 2 {
		return nil
	}
	e := &apiError{Method: hr.Request.Method, Path: hr.Request.URL.EscapedPath(), Status: hr.StatusCode, StatusText: hr.Status}
	if ct, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type")); ct == "application/problem+json" || ct == "application/json" {
		var p adminapi.Problem
		if json.Unmarshal(body, &p) == nil && p.Title != "" {
			e.Problem = &p
		}
	}
	return e
}

// decoded returns v, or an error naming the call when a 2xx answer had no
// body the spec describes (v is nil).
func decoded[T any](hr *http.Response, v *T) (*T, error) {
	if v == nil {
		return nil, fmt.Errorf("%s %s: %s: the answer is not the JSON the admin spec describes", hr.Request.Method, hr.Request.URL.EscapedPath(), hr.Status)
	}
	return v, nil
}
