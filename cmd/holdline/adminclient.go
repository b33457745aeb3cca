package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// adminClient talks to a running sidecar's admin API.
type adminClient struct {
	base  string
	token string
	hc    *http.Client
}

// errUnreachable marks a sidecar that did not answer at all.
var errUnreachable = errors.New("sidecar unreachable")

// addAdminFlags adds --admin to an online command.
func addAdminFlags(c *cobra.Command, admin *string) {
	c.Flags().StringVar(admin, "admin", "", "admin URL of the sidecar (default $HOLDLINE_ADMIN or http://127.0.0.1:9901)")
}

func newAdminClient(e env, admin string) *adminClient {
	if admin == "" {
		admin = e.getenv("HOLDLINE_ADMIN")
	}
	if admin == "" {
		admin = "http://127.0.0.1:9901"
	}
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	return &adminClient{base: strings.TrimSuffix(admin, "/"), token: e.getenv("HOLDLINE_ADMIN_TOKEN"), hc: &http.Client{Timeout: 30 * time.Second}}
}

// problem is the part of an RFC 9457 body the CLI shows.
type problem struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

// do sends a request and decodes a 2xx JSON answer into out. Non-2xx
// answers become errors carrying the problem's detail.
func (c *adminClient) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var p problem
		if json.Unmarshal(b, &p) == nil && p.Title != "" {
			msg := fmt.Sprintf("%s %s: %d %s", method, path, p.Status, p.Title)
			if p.Detail != "" {
				msg += ": " + p.Detail
			}
			if resp.StatusCode == http.StatusUnauthorized {
				msg += " (set HOLDLINE_ADMIN_TOKEN)"
			}
			return errors.New(msg)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}
