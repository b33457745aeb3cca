package gateway

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/holdline/holdline/internal/audit"
	"github.com/holdline/holdline/internal/resilience"
)

// signIn posts token to /ui/login and returns a client holding the
// session cookie (it does not follow redirects).
func signIn(t *testing.T, base, token string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /ui/login = %d, want 303", resp.StatusCode)
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestStatusPageNeedsSignIn: /ui shows audit data (who did what and why),
// so without a session it answers 401 with a login form and nothing of
// the audit log; a wrong token gets no session; the right one sets an
// HttpOnly, SameSite=Strict cookie scoped to /ui, after which the page
// shows actors and reasons; signing out ends it; a forged or expired
// cookie is refused.
func TestStatusPageNeedsSignIn(t *testing.T) {
	set := newSet(t)
	log, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	log.Record(t.Context(), "oncall", "breaker.set", "crm", "vendor incident 4521", "ok", nil)
	now := time.Now()
	p := newPlanes(t, func(o *Options) {
		o.Services.Dependencies, o.Services.Audit = set, log
		o.Now = func() time.Time { return now }
	})
	if err := set.Get("crm").SetBreakerMode(resilience.BreakerOpen, "oncall", "vendor incident 4521"); err != nil {
		t.Fatal(err)
	}

	anon := &http.Client{}
	resp, body := get(t, anon, p.admin.URL+"/ui")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `action="/ui/login"`) {
		t.Fatalf("GET /ui without a session = %d, want 401 and the login form", resp.StatusCode)
	}
	for _, leak := range []string{"oncall", "vendor incident", "4521", "breaker.set"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("the login page shows %q", leak)
		}
	}

	// A wrong token: 401, no cookie.
	resp, err = anon.PostForm(p.admin.URL+"/ui/login", url.Values{"token": {"not-the-token-at-all"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("login with a wrong token = %d with %d cookies, want 401 and none", resp.StatusCode, len(resp.Cookies()))
	}

	// The right token: a session cookie with the flags that keep it to
	// this page.
	nf := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = nf.PostForm(p.admin.URL+"/ui/login", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sess *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sess = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || sess == nil {
		t.Fatalf("login = %d, cookie %v; want 303 and a session", resp.StatusCode, sess)
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/ui" || sess.Secure {
		t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /ui, not Secure over plain HTTP", sess.HttpOnly, sess.SameSite, sess.Path, sess.Secure)
	}
	if strings.Contains(sess.Value, testToken) {
		t.Error("the cookie holds the admin token itself")
	}

	c := signIn(t, p.admin.URL, testToken)
	resp, body = get(t, c, p.admin.URL+"/ui")
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui signed in = %d", resp.StatusCode)
	}
	for _, want := range []string{"<td>oncall</td>", "<td>vendor incident 4521</td>", "by oncall: vendor incident 4521", "signed in as oncall"} {
		if !strings.Contains(page, want) {
			t.Errorf("/ui signed in lacks %q", want)
		}
	}

	// A form posted from another site is refused even with the cookie.
	req, _ := http.NewRequest(http.MethodPost, p.admin.URL+"/ui/breaker", strings.NewReader(url.Values{"dependency": {"crm"}, "mode": {"closed"}, "reason": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || set.Get("crm").BreakerMode() != resilience.BreakerOpen {
		t.Fatalf("cross-site form = %d, mode %s; want 401 and no change", resp.StatusCode, set.Get("crm").BreakerMode())
	}
	// The session alone (no token field) authorizes the page's forms.
	resp, err = c.PostForm(p.admin.URL+"/ui/breaker", url.Values{"dependency": {"crm"}, "mode": {"auto"}, "reason": {"vendor recovered"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || set.Get("crm").BreakerMode() != resilience.BreakerAuto {
		t.Fatalf("form with the session = %d, mode %s; want 303 and auto", resp.StatusCode, set.Get("crm").BreakerMode())
	}

	// A forged cookie (another name, the same signature) is refused.
	forged := &http.Cookie{Name: sessionCookie, Value: "cm9vdA" + sess.Value[strings.Index(sess.Value, "."):]}
	req, _ = http.NewRequest(http.MethodGet, p.admin.URL+"/ui", nil)
	req.AddCookie(forged)
	resp, err = anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged cookie: GET /ui = %d, want 401", resp.StatusCode)
	}

	// Expiry: past sessionTTL the cookie is refused.
	now = now.Add(sessionTTL + time.Second)
	req, _ = http.NewRequest(http.MethodGet, p.admin.URL+"/ui", nil)
	req.AddCookie(sess)
	resp, err = anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired cookie: GET /ui = %d, want 401", resp.StatusCode)
	}

	// Sign out clears it.
	now = now.Add(-sessionTTL)
	c = signIn(t, p.admin.URL, testToken)
	resp, err = c.PostForm(p.admin.URL+"/ui/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, _ := get(t, c, p.admin.URL+"/ui"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign out GET /ui = %d, want 401", resp.StatusCode)
	}
}

// TestStatusRedactsWhoAndWhyWithoutToken: /v1/status stays open (probes,
// dashboards), but who forced a breaker and why, audit data, need the
// admin token.
func TestStatusRedactsWhoAndWhyWithoutToken(t *testing.T) {
	set := newSet(t)
	p := newPlanes(t, func(o *Options) { o.Services.Dependencies = set })
	if err := set.Get("crm").SetBreakerMode(resilience.BreakerOpen, "oncall", "vendor incident 4521"); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "GET", p.admin.URL+"/v1/status", "", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/status = %d", resp.StatusCode)
	}
	if strings.Contains(string(body), "oncall") || strings.Contains(string(body), "4521") {
		t.Errorf("/v1/status without a token shows who or why:\n%s", body)
	}
	if !strings.Contains(string(body), redacted) {
		t.Errorf("/v1/status without a token does not say the override is redacted:\n%s", body)
	}
	resp, body = do(t, "GET", p.admin.URL+"/v1/status", "", "", map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"actor": "oncall"`) || !strings.Contains(string(body), "vendor incident 4521") {
		t.Errorf("/v1/status with the token = %d, lacks who and why:\n%s", resp.StatusCode, body)
	}
}
