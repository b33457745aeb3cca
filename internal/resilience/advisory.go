package resilience

import (
	"fmt"
	"net/url"

	"github.com/holdline/holdline/internal/config"
)

// NewAdvisory builds one Dependency outside a Set, for an upstream holdline
// only reads to inform operators (vendor status pages): the same policy
// chain, egress allowlist and fault injection as a Set's, tier
// non-critical, but none of it exported: its calls are not counted in
// holdline_dependency_* metrics, it has no breaker gauge and no row in
// /v1/status, and no operator override applies to it. name is the
// dependency's name in logs and errors. p should have its defaults applied
// (copy a defaulted Policy, e.g. config.Default().Dependencies.Identity);
// its problems are reported as for NewSet, under dependencies.<name>.
// opts.Registerer is ignored.
func NewAdvisory(name string, p config.Policy, opts Options) (*Dependency, error) {
	fillOptions(&opts)
	d, err := newDependency(name, p, newMetrics(), opts)
	if err != nil {
		return nil, err
	}
	d.tier = TierNonCritical
	return d, nil
}

// AllowHosts returns the allowlist entries (host names or addresses) of the
// hosts of urls, for NewAdvisory's policy. A URL that does not parse is an
// error naming it.
func AllowHosts(urls ...string) ([]string, error) {
	var hosts []string
	seen := map[string]bool{}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("resilience: %q has no host", s)
		}
		if h := u.Hostname(); !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}
