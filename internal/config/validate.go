package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Validate checks a Config with defaults applied and returns every problem
// found, each a *Problem naming its key path. It returns nil for a good
// Config.
//
// Each section validates itself (Log.Validate, HTTP.Validate, ...) given
// its key path; Validate only adds the top-level keys and joins the
// sections, in file order. `holdline config validate` and `holdline serve`
// both reach it (serve through sidecar.Check), so they refuse the same
// files.
func (c *Config) Validate() []error {
	v := &validator{}
	v.hostPort("listen", c.Listen)
	v.hostPort("admin_listen", c.AdminListen)
	if c.ProbeListen != "" {
		v.hostPort("probe_listen", c.ProbeListen)
	}
	if c.DataDir == "" {
		v.add("data_dir", "must be set")
	}
	errs := v.errs
	for _, section := range [][]error{
		c.Log.Validate("log"),
		c.HTTP.Validate("http"),
		c.Admin.Validate("admin", c.AdminListen),
		c.ScreenPop.Validate("screen_pop"),
		c.Cache.Validate("cache"),
		c.Outbox.Validate("outbox"),
		c.Recordings.Validate("recordings"),
		c.Dependencies.Validate("dependencies"),
		c.Dialogflow.Validate("dialogflow"),
		c.Identity.Validate(),
		c.StatusPages.Validate("status_pages"),
		c.Tracing.Validate("tracing"),
	} {
		errs = append(errs, section...)
	}
	return errs
}

var envName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/agents/[^/]+/environments/([^/]+)$`)
})

// CheckEnvironment reports whether name is the full resource name of a
// published Dialogflow CX environment. Draft (an environment of "-", a
// missing environment, or any other shape) is refused.
func CheckEnvironment(name string) error {
	if name == "" {
		return fmt.Errorf("must name a published environment (projects/P/locations/L/agents/A/environments/E); Draft is refused")
	}
	m := envName().FindStringSubmatch(name)
	if m == nil {
		return fmt.Errorf("%q is not projects/P/locations/L/agents/A/environments/E; a session path without /environments/ runs on Draft, which is refused", name)
	}
	if m[1] == "-" || strings.EqualFold(m[1], "draft") {
		return fmt.Errorf("%q is the Draft environment; pin a published environment", name)
	}
	return nil
}

var allowHost = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9.-]+$`) })

// CheckAllow reports whether s is a CIDR range, an IP address, a host name
// or a "*." domain pattern.
func CheckAllow(s string) error {
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not a CIDR range", s)
		}
		return nil
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	h := strings.TrimPrefix(s, "*.")
	if h == "" || strings.ContainsAny(h, "*:/ ") || !allowHost().MatchString(h) {
		return fmt.Errorf("%q is not a host, a *.domain pattern or a CIDR range", s)
	}
	return nil
}

// validator collects the problems of one section; path is the section's
// key path, which every key it is given is joined to.
type validator struct {
	path string
	errs []error
}

func (v *validator) add(key, msg string) {
	v.errs = append(v.errs, &Problem{Path: join(v.path, key), Msg: msg})
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.add(key, fmt.Sprintf("%q is not one of %s", val, strings.Join(allowed, ", ")))
	}
}

func (v *validator) positive(key string, n int64) {
	if n <= 0 {
		v.add(key, "must be positive")
	}
}

func (v *validator) notNegative(key string, n int64) {
	if n < 0 {
		v.add(key, "must not be negative")
	}
}

func (v *validator) hostPort(key, s string) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		v.add(key, fmt.Sprintf("%q is not host:port", s))
	}
}

func (v *validator) url(key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, fmt.Sprintf("%q is not an http(s) URL", s))
	}
}
