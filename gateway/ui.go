package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/holdline/holdline"
	"github.com/holdline/holdline/gateway/adminapi"
	"github.com/holdline/holdline/internal/resilience"
)

// The pages are templ components (ui_status.templ, ui_login.templ),
// compiled to plain Go that escapes every value for where it lands.
// html/template is not used: executing it reaches reflect's Method, which
// makes the linker keep every exported method of every type in the binary.
//go:generate go tool templ generate -f ui_status.templ
//go:generate go tool templ generate -f ui_login.templ

// sparkHistory keeps the last p99 samples per dependency for the status
// page's sparklines. Samples are taken when the page is rendered, at most
// one per sparkEvery, so nothing runs in the background.
type sparkHistory struct {
	mu      sync.Mutex
	last    time.Time
	samples map[string][]float64
}

const (
	sparkEvery = 5 * time.Second
	sparkLen   = 60
)

func (h *sparkHistory) sample(now time.Time, deps []adminapi.DependencyStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.last) < sparkEvery {
		return
	}
	h.last = now
	if h.samples == nil {
		h.samples = map[string][]float64{}
	}
	for _, d := range deps {
		name := string(d.Name)
		s := append(h.samples[name], d.P99Ms)
		if len(s) > sparkLen {
			s = s[len(s)-sparkLen:]
		}
		h.samples[name] = s
	}
}

// points renders a dependency's samples as SVG polyline points in a
// 220x30 box.
func (h *sparkHistory) points(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.samples[name]
	if len(s) < 2 {
		return ""
	}
	top := max(slices.Max(s), 1)
	var b strings.Builder
	for i, v := range s {
		fmt.Fprintf(&b, "%.1f,%.1f ", float64(i)*220/float64(sparkLen-1), 29-28*v/top)
	}
	return strings.TrimSpace(b.String())
}

type uiDependency struct {
	adminapi.DependencyStatus
	FailurePct   float64
	Calls        int
	P99          float64
	Spark        string
	HasSecondary bool
}

// concurrencyText describes a dependency's concurrency limit in one line.
func concurrencyText(c *adminapi.Concurrency) string {
	s := fmt.Sprintf("bulkhead %d", c.Limit)
	if c.Mode == adminapi.ConcurrencyAdaptive {
		s = fmt.Sprintf("adaptive limit %d (%d–%d)", c.Limit, c.Min, c.Max)
	}
	s += fmt.Sprintf(" · %d in flight", c.Inflight)
	if c.Queued != 0 {
		s += fmt.Sprintf(" · %d queued", c.Queued)
	}
	return s
}

type uiFault struct{ ID, Dependency, What, Actor, Expires string }

// uiFaultOf describes a fault in one line: what it does, who added it and
// when it expires.
func uiFaultOf(f adminapi.Fault) uiFault {
	what := []string{}
	if f.Latency != nil {
		what = append(what, "latency "+*f.Latency)
	}
	if f.ErrorRate != nil {
		e := fmt.Sprintf("%.0f%% errors", *f.ErrorRate*100)
		if f.Status != nil {
			e += fmt.Sprintf(" (%d)", *f.Status)
		}
		what = append(what, e)
	}
	actor := ""
	if f.Actor != nil {
		actor = *f.Actor
	}
	return uiFault{ID: f.Id, Dependency: f.Dependency, What: strings.Join(what, ", "), Actor: actor, Expires: f.ExpiresAt.UTC().Format("15:04:05")}
}

// hasSecondary reports whether the named dependency has a secondary
// endpoint to fail over to (the page offers the failover form only then).
func (s *Server) hasSecondary(name string) bool {
	set := s.opts.Services.Dependencies
	if set == nil {
		return false
	}
	d := set.Get(name)
	return d != nil && d.HasSecondary()
}

type uiOutbox struct {
	Pending, Inflight, Dead, Blocked int
	OldestAge                        string
}

type uiAudit struct{ Time, Actor, Action, Target, Reason, Result string }

type uiPage struct {
	Version, Mode, StartedAt, Now string
	Actor                         string
	Degraded, DrillsEnabled       bool
	Flash                         string
	Dependencies                  []uiDependency
	Outbox                        *uiOutbox
	Faults                        []uiFault
	Audit                         []uiAudit
}

// titleHealth is the page title's word for the sidecar's state.
func (p uiPage) titleHealth() string {
	if p.Degraded {
		return "DEGRADED"
	}
	return "healthy"
}

// headline is the header's summary of the sidecar's state.
func (p uiPage) headline() string {
	if p.Degraded {
		return "DEGRADED"
	}
	return "all dependencies healthy"
}

// statusPage renders /ui: one page a person can read at a glance during an
// incident. Server-rendered, no JavaScript, no external requests; it
// refreshes itself every 5 seconds. It shows who did what and why, so it
// needs a session (POST /ui/login with an admin token); without one it
// answers 401 with the login form.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	actor := Actor(r.Context())
	if actor == "" {
		s.loginPage(w, r, "")
		return
	}
	now := s.now()
	page := uiPage{Actor: actor, Version: s.opts.Version, Mode: "production", StartedAt: s.startedAt.UTC().Format(time.RFC3339), Now: now.UTC().Format("15:04:05 MST"), Flash: s.flashes.verify(r.URL.Query().Get("flash"), r.URL.Query().Get("sig"))}
	if s.opts.Dev {
		page.Mode = "dev"
	}
	st := s.status(r.Context())
	page.Degraded = st.Degraded
	s.spark.sample(now, st.Dependencies)
	for _, d := range st.Dependencies {
		page.Dependencies = append(page.Dependencies, uiDependency{
			DependencyStatus: d, FailurePct: d.FailureRate1m * 100, Calls: int(d.Calls1m), P99: d.P99Ms,
			Spark: s.spark.points(string(d.Name)), HasSecondary: s.hasSecondary(string(d.Name)),
		})
	}
	if o := st.Outbox; o != nil {
		page.Outbox = &uiOutbox{Pending: o.Pending, Inflight: o.Inflight, Dead: o.Dead, Blocked: o.Blocked, OldestAge: (time.Duration(o.OldestPendingAgeSeconds) * time.Second).String()}
	}
	page.DrillsEnabled = st.Drills.Enabled
	for _, f := range st.Drills.Faults {
		page.Faults = append(page.Faults, uiFaultOf(f))
	}
	if a := s.opts.Services.Audit; a != nil {
		if entries, err := a.Read(time.Time{}, 15); err == nil {
			for i := len(entries) - 1; i >= 0; i-- {
				e := entries[i]
				page.Audit = append(page.Audit, uiAudit{Time: e.Time.Format("15:04:05"), Actor: e.Actor, Action: e.Action, Target: e.Target, Reason: e.Reason, Result: e.Result})
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	if err := statusHTML(page).Render(r.Context(), w); err != nil {
		s.log.Error("render status page", "error", err)
	}
}

// uiAction handles the status page's breaker and failover forms. The
// actor is the session's (the SameSite=Strict cookie is not sent with
// another site's form, and a cross-site Origin is refused), or a "token"
// form field for scripts without a session.
func (s *Server) uiAction(apply func(ctx context.Context, d *resilience.Dependency, r *http.Request, reason string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.readForm(w, r) {
			return
		}
		actor, ok := Actor(r.Context()), Actor(r.Context()) != ""
		if !ok {
			actor, ok = s.tokenName(r.PostForm.Get("token"))
		}
		if !ok {
			writeProblem(w, r, s.log, holdline.Errorf(holdline.EUNAUTHORIZED, "", "the admin token is wrong"))
			return
		}
		ctx := context.WithValue(r.Context(), actorKey, actor)
		d, err := s.dependency(r.PostForm.Get("dependency"))
		if err != nil {
			writeProblem(w, r, s.log, err)
			return
		}
		reason := strings.TrimSpace(r.PostForm.Get("reason"))
		if reason == "" {
			writeProblem(w, r, s.log, holdline.Errorf(holdline.EINVALID, "reason", "say why: the reason is kept in the audit log"))
			return
		}
		if utf8.RuneCountInString(reason) > maxReason {
			writeProblem(w, r, s.log, holdline.Errorf(holdline.EINVALID, "reason", "at most %d characters", maxReason))
			return
		}
		msg, err := apply(ctx, d, r, reason)
		if err != nil {
			msg = "failed: " + problemFor(err).Detail
		}
		http.Redirect(w, r, "/ui?flash="+url.QueryEscape(msg)+"&sig="+s.flashes.sign(msg), http.StatusSeeOther)
	}
}

func (s *Server) uiBreaker(ctx context.Context, d *resilience.Dependency, r *http.Request, reason string) (string, error) {
	mode := r.PostForm.Get("mode")
	err := d.SetBreakerMode(resilience.BreakerMode(mode), Actor(ctx), reason)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	s.audit(ctx, "breaker.set", d.Name(), reason, result, map[string]any{"mode": mode, "via": "ui"})
	return fmt.Sprintf("%s breaker set to %s by %s", d.Name(), mode, Actor(ctx)), err
}

func (s *Server) uiEndpoint(ctx context.Context, d *resilience.Dependency, r *http.Request, reason string) (string, error) {
	active := r.PostForm.Get("active")
	err := d.SetActiveEndpoint(active, Actor(ctx), reason)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	s.audit(ctx, "endpoint.set", d.Name(), reason, result, map[string]any{"active": active, "via": "ui"})
	return fmt.Sprintf("%s now uses its %s endpoint (by %s)", d.Name(), active, Actor(ctx)), err
}

// tokenName checks a form's token against the admin tokens.
func (s *Server) tokenName(tok string) (string, bool) { return s.tokens.match(tok) }

// maxReason is the longest reason a form may give, as in the admin API.
const maxReason = 500

// flashKey signs the status page's flash messages, so that only a message
// this process wrote after a form is shown: a link cannot put its own text
// on the page. The key is random per process; a flash link does not outlive
// a restart, which is fine for a message about what was just done.
type flashKey []byte

func newFlashKey() flashKey {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func (k flashKey) sign(msg string) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify returns msg when sig is its signature, else "".
func (k flashKey) verify(msg, sig string) string {
	if msg == "" || !hmac.Equal([]byte(sig), []byte(k.sign(msg))) {
		return ""
	}
	return msg
}

// readForm refuses a form posted from another site and parses the form,
// answering the problem itself and reporting false when it did.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) bool {
	if !sameOrigin(r) {
		writeProblem(w, r, s.log, holdline.Errorf(holdline.EUNAUTHORIZED, "", "the form was posted from another site"))
		return false
	}
	if err := r.ParseForm(); err != nil {
		writeProblem(w, r, s.log, holdline.Errorf(holdline.EINVALID, "", "could not read the form"))
		return false
	}
	return true
}
