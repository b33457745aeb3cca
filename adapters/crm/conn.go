package crm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/upstream"
)

// Limits on what an adapter reads from a CRM.
const (
	maxAnswer    = 8 << 20  // a 2xx JSON answer
	maxErrorBody = 64 << 10 // the part of a non-2xx body kept for error mapping
)

// conn is what every kind shares: the dependency's client, the active
// endpoint and the credentials.
type conn struct {
	hc       *http.Client
	endpoint func() string
	auth     *credentials
	now      func() time.Time
	// observe, when set, sees the headers of every answer (Salesforce
	// reads Sforce-Limit-Info from them).
	observe func(http.Header)
}

// newConn checks the parts every kind needs and reports every problem.
func newConn(cfg config.CRM, hc *http.Client, endpoint func() string) (conn, error) {
	var errs []error
	if hc == nil {
		errs = append(errs, errors.New("crm: nil *http.Client"))
	}
	if endpoint == nil {
		errs = append(errs, errors.New("crm: nil endpoint func"))
	}
	a := cfg.Auth
	switch a.Type {
	case "", "none":
	case "header":
		if a.Header == "" {
			errs = append(errs, errors.New("dependencies.crm.auth.header: must be set when auth.type is header"))
		}
	case "basic":
		if a.Username == "" {
			errs = append(errs, errors.New("dependencies.crm.auth.username: must be set when auth.type is basic"))
		}
	case "bearer", "client_credentials", "jwt_bearer":
	default:
		errs = append(errs, fmt.Errorf("dependencies.crm.auth.type: %q is not one of none, header, basic, bearer, client_credentials, jwt_bearer", a.Type))
	}
	switch a.Type {
	case "header", "basic", "bearer":
		if !a.Secret.IsSet() && a.SecretFile == "" {
			errs = append(errs, fmt.Errorf("dependencies.crm.auth.secret: must be set (or secret_file) for auth.type %s", a.Type))
		}
	case "client_credentials", "jwt_bearer":
		if a.TokenURL == "" {
			errs = append(errs, fmt.Errorf("dependencies.crm.auth.token_url: must be set for auth.type %s", a.Type))
		}
		if a.Type == "client_credentials" && !a.ClientSecret.IsSet() && a.ClientSecretFile == "" {
			errs = append(errs, errors.New("dependencies.crm.auth.client_secret: must be set (or client_secret_file) for auth.type client_credentials"))
		}
	}
	cn := conn{hc: hc, endpoint: endpoint, now: time.Now}
	if len(errs) == 0 {
		var err error
		cn.auth, err = newCredentials(a, hc, endpoint, cn.now)
		errs = append(errs, err)
	}
	return cn, errors.Join(errs...)
}

// reloadSecrets makes the next call re-read the credentials' secret
// files (SIGHUP), without waiting for auth.file_poll.
func (c *conn) reloadSecrets() {
	if c.auth != nil {
		c.auth.reload()
	}
}

// base returns the active endpoint without a trailing slash.
func (c *conn) base() (string, error) {
	b := strings.TrimRight(c.endpoint(), "/")
	if b == "" {
		return "", errors.New("no active endpoint")
	}
	return b, nil
}

// newRequest builds a request for path (already escaped, relative to the
// active endpoint) with credentials and, when key is set, an
// Idempotency-Key header.
func (c *conn) newRequest(ctx context.Context, method, path string, body io.Reader, key string) (*http.Request, error) {
	b, err := c.base()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, b+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "holdline")
	if id := upstream.RequestID(ctx); id != "" {
		// Set here, on a request of its own, rather than by the
		// dependency's transport, which would have to clone it.
		req.Header.Set(upstream.RequestIDHeader, id)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if err := c.auth.authorize(ctx, req); err != nil {
		return nil, err
	}
	return req, nil
}

// jsonRequest is newRequest with v encoded as a JSON body.
func (c *conn) jsonRequest(ctx context.Context, method, path string, v any, key string) (*http.Request, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, method, path, bytes.NewReader(b), key)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// do sends req and decodes a 2xx JSON answer into out (when out is not nil
// and the answer has a body). A non-2xx answer is returned as a
// *upstream.StatusError along with the start of its body, for mapping
// CRM error codes. Transport errors lose their URL, which may hold a phone
// number or a record id, and keep their cause (context errors included).
//
// A 401 answer renews the credentials (a fresh OAuth token, a changed
// secret file) and sends the request once more when its body can be
// sent again; a 401 after that is returned, and the write waits
// (auth_failed).
func (c *conn) do(req *http.Request, out any) (errBody []byte, err error) {
	resp, err := c.send(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return nil, err
	}
	if c.observe != nil {
		c.observe(resp.Header)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return body, upstream.FromResponse(resp, c.now())
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	if raw, ok := out.(*rawAnswer); ok {
		// The caller queries the text itself (Generic.getJSON).
		s, err := readAnswer(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("read answer: %w", err)
		}
		*raw = rawAnswer(s)
		return nil, nil
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return nil, nil
}

// send sends req, and once more with renewed credentials after a 401
// when that may help and the body can be replayed (GetBody, or no body).
func (c *conn) send(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || c.auth == nil {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil
	}
	used := req.Header.Get("Authorization")
	if c.auth.cfg.Type == "header" {
		used = req.Header.Get(c.auth.cfg.Header)
	}
	if !c.auth.renew(used) {
		return resp, nil
	}
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		again.Body = body
	}
	if err := c.auth.authorize(req.Context(), again); err != nil {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	return c.hc.Do(again)
}

// rawAnswer, passed to do as out, receives a 2xx answer's text (at most
// maxAnswer bytes) instead of its decoding.
type rawAnswer string

// answerBufs holds the buffers readAnswer reads bodies into, so that
// reading an answer allocates only the string it returns.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledAnswer is the largest buffer answerBufs keeps: a rare large
// answer is read into a buffer of its own, not kept for every later one.
const maxPooledAnswer = 64 << 10

// readAnswer reads at most maxAnswer bytes of body into one string.
func readAnswer(body io.Reader) (string, error) {
	buf := answerBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledAnswer {
			answerBufs.Put(buf)
		}
	}()
	_, err := buf.ReadFrom(io.LimitReader(body, maxAnswer))
	return buf.String(), err
}

// hasStatus reports whether err is a StatusError with one of codes.
func hasStatus(err error, codes ...int) bool {
	var se *upstream.StatusError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Code == c {
			return true
		}
	}
	return false
}

// notFound wraps err (a 404-like StatusError) so that it is both
// ErrNotFound and the StatusError.
func notFound(err error) error { return fmt.Errorf("%w: %w", ErrNotFound, err) }

// idString turns a JSON id (string or number) into a string.
func idString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// partLabel is "part 1 of 2", or "" when Parts is not set.
func partLabel(a Attachment) string {
	if a.Parts <= 0 {
		return ""
	}
	return fmt.Sprintf("part %d of %d", a.Part, a.Parts)
}

// ReloadSecrets implements SecretReloader.
func (g *Generic) ReloadSecrets() { g.c.reloadSecrets() }

// ReloadSecrets implements SecretReloader.
func (s *Salesforce) ReloadSecrets() { s.c.reloadSecrets() }

// ReloadSecrets implements SecretReloader.
func (z *Zendesk) ReloadSecrets() { z.c.reloadSecrets() }

var (
	_ SecretReloader = (*Generic)(nil)
	_ SecretReloader = (*Salesforce)(nil)
	_ SecretReloader = (*Zendesk)(nil)
)
