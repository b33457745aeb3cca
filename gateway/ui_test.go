package gateway

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/holdline/holdline/internal/config"
	"github.com/holdline/holdline/internal/resilience"
)

func newSet(t *testing.T) *resilience.Set {
	t.Helper()
	deps := config.Default().Dependencies
	deps.CRM.Endpoints.Primary, deps.CRM.Endpoints.Secondary = "http://127.0.0.1:1", "http://127.0.0.1:2"
	set, err := resilience.NewSet(deps, resilience.Options{Logger: slog.New(slog.DiscardHandler), AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestStatusPageRendersTiles(t *testing.T) {
	set := newSet(t)
	p := newPlanes(t, func(o *Options) { o.Services.Dependencies = set })
	if err := set.Get("crm").SetBreakerMode(resilience.BreakerOpen, "oncall", "vendor incident"); err != nil {
		t.Fatal(err)
	}
	c := signIn(t, p.admin.URL, testToken)
	resp, body := get(t, c, p.admin.URL+"/ui")
	page := string(body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ui = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`id="dep-crm" data-breaker="open" data-mode="open"`, "by oncall: vendor incident", `id="dep-identity" data-breaker="closed"`, "fail over to secondary"} {
		if !strings.Contains(page, want) {
			t.Errorf("/ui lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "src=", "http://", "https://", "@import"} {
		if strings.Contains(page, banned) {
			t.Errorf("/ui contains %q: the page must work without JavaScript and load nothing external", banned)
		}
	}
}

func TestStatusPageFormsNeedTheToken(t *testing.T) {
	set := newSet(t)
	p := newPlanes(t, func(o *Options) { o.Services.Dependencies = set; o.MaxBodyBytes = 4096 })
	post := func(form url.Values) *http.Response {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(p.admin.URL+"/ui/breaker", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {"x"}, "token": {"wrong"}})
	if resp.StatusCode != 401 || set.Get("crm").BreakerMode() != resilience.BreakerAuto {
		t.Fatalf("form with a wrong token = %d, mode %s; want 401 and no change", resp.StatusCode, set.Get("crm").BreakerMode())
	}
	resp = post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {""}, "token": {testToken}})
	if resp.StatusCode != 400 {
		t.Fatalf("form without a reason = %d, want 400", resp.StatusCode)
	}
	resp = post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {strings.Repeat("r", 501)}, "token": {testToken}})
	if resp.StatusCode != 400 || set.Get("crm").BreakerMode() != resilience.BreakerAuto {
		t.Fatalf("form with a 501-character reason = %d, mode %s; want 400 and no change", resp.StatusCode, set.Get("crm").BreakerMode())
	}
	resp = post(url.Values{"dependency": {"crm"}, "mode": {"open"}, "reason": {"drill"}, "token": {testToken}})
	if resp.StatusCode != http.StatusSeeOther || set.Get("crm").BreakerMode() != resilience.BreakerOpen {
		t.Fatalf("form with the token = %d, mode %s; want 303 and forced open", resp.StatusCode, set.Get("crm").BreakerMode())
	}

	// The redirect's flash is shown; a link's own text is not.
	c := signIn(t, p.admin.URL, testToken)
	_, body := get(t, c, p.admin.URL+resp.Header.Get("Location"))
	if !strings.Contains(string(body), `id="flash">crm breaker set to open by oncall<`) {
		t.Errorf("/ui after the form lacks the flash:\n%s", body)
	}
	_, body = get(t, c, p.admin.URL+"/ui?flash="+url.QueryEscape("call 555-0100 to restore service"))
	if strings.Contains(string(body), "555-0100") {
		t.Errorf("/ui shows an unsigned flash from a link")
	}
}
