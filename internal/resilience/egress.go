package resilience

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/holdline/holdline/internal/config"
)

// LookupFunc resolves a host name to its addresses. Options.Lookup lets
// tests answer with any address without a DNS server.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// allowlist is a dependency's compiled egress allowlist.
type allowlist struct {
	dep      string
	suffixes []string       // ".my.salesforce.com" from "*.my.salesforce.com"
	hosts    []string       // exact host names, lower case
	prefixes []netip.Prefix // CIDRs and single IPs
	loopback bool           // dev mode and tests: loopback is always allowed
}

var (
	linkLocal4 = netip.MustParsePrefix("169.254.0.0/16")
	linkLocal6 = netip.MustParsePrefix("fe80::/10")

	// notPublic are ranges that are neither private in net/netip's sense
	// nor reachable public hosts, or that carry an IPv4 address inside an
	// IPv6 one (so an internal IPv4 address could hide in them). A name
	// from a domain pattern never resolves into them; an operator who
	// needs one lists it as a CIDR.
	notPublic = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
		netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
		netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking (RFC 2544)
		netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast
		netip.MustParsePrefix("::/96"),          // IPv4-compatible IPv6 (deprecated)
		netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 (RFC 6052)
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
		netip.MustParsePrefix("2002::/16"),      // 6to4 (RFC 3056)
		netip.MustParsePrefix("2001::/32"),      // Teredo (RFC 4380)
		netip.MustParsePrefix("100::/64"),       // discard-only (RFC 6666)
	}
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.MustParsePrefix("::1/128")
)

// newAllowlist compiles p.Allow, or the endpoints' own hosts when it is
// empty. path is the config path used in errors.
func newAllowlist(dep, path string, p config.Policy, loopback bool) (*allowlist, error) {
	a := &allowlist{dep: dep, loopback: loopback}
	entries := p.Allow
	if len(entries) == 0 {
		for _, e := range []string{p.Endpoints.Primary, p.Endpoints.Secondary} {
			if h := endpointHost(e); h != "" {
				entries = append(entries, h)
			}
		}
	}
	for i, e := range entries {
		if err := config.CheckAllow(e); err != nil {
			return nil, &config.Problem{Path: fmt.Sprintf("%s.allow[%d]", path, i), Msg: err.Error()}
		}
		e = strings.ToLower(strings.TrimSuffix(e, "."))
		switch {
		case strings.Contains(e, "/"):
			a.prefixes = append(a.prefixes, netip.MustParsePrefix(e).Masked())
		case strings.HasPrefix(e, "*."):
			a.suffixes = append(a.suffixes, e[1:])
		default:
			if ip, err := netip.ParseAddr(e); err == nil {
				a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			} else {
				a.hosts = append(a.hosts, e)
				if e == "localhost" {
					// localhost is the loopback interface (RFC 6761 §6.3),
					// however it is spelled: allow it by address too, so
					// allow: [localhost] admits an issuer at 127.0.0.1.
					a.prefixes = append(a.prefixes, loopback4, loopback6)
				}
			}
		}
	}
	return a, nil
}

// endpointHost returns the host of a base URL, or of a bare host:port
// (Redis), or "".
func endpointHost(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Hostname()
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return ""
}

// nameAllowed reports whether host matches an exact host or a domain
// pattern. A pattern "*.example.com" matches every subdomain, not the apex.
func (a *allowlist) nameAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range a.hosts {
		if host == h {
			return true
		}
	}
	for _, s := range a.suffixes {
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// ipListed reports whether ip is inside an allowed CIDR or IP, or is
// loopback in dev mode.
func (a *allowlist) ipListed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if a.loopback && ip.IsLoopback() {
		return true
	}
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// publicIP reports whether ip may be reached through a host name matched by
// a domain pattern: never link-local (which holds the cloud metadata
// service, 169.254.169.254), unspecified, multicast or private, and
// loopback only in dev mode. This is what defeats DNS rebinding of an
// allowed name onto an internal address.
func (a *allowlist) publicIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	switch {
	case linkLocal4.Contains(ip), linkLocal6.Contains(ip), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return false
	case ip.IsLoopback():
		return a.loopback
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsPrivate(), ip.IsInterfaceLocalMulticast():
		return false
	}
	for _, p := range notPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// check decides one resolved address of a dial to host. nameOK says host
// matched a name entry.
func (a *allowlist) check(host string, nameOK bool, ip netip.Addr) error {
	if a.ipListed(ip) || (nameOK && a.publicIP(ip)) {
		return nil
	}
	if host == ip.String() {
		return fmt.Errorf("%w: %s: %s is not in the allowlist", ErrEgressDenied, a.dep, ip)
	}
	return fmt.Errorf("%w: %s: %s resolves to %s, which is not allowed", ErrEgressDenied, a.dep, host, ip)
}

// dialer dials only what the allowlist permits. It resolves the name
// itself, checks every address, then dials the checked addresses, so a
// second, different DNS answer can never be what gets connected to.
type dialer struct {
	allow  *allowlist
	lookup LookupFunc
	net    net.Dialer
}

// DialContext implements the http.Transport hook. A denied dial returns an
// error wrapping ErrEgressDenied.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	nameOK := false
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		nameOK = d.allow.nameAllowed(host)
		if !nameOK && len(d.allow.prefixes) == 0 && !d.allow.loopback {
			// Nothing but names is allowed and this one is not among them:
			// refuse without asking DNS.
			return nil, fmt.Errorf("%w: %s: host %s is not in the allowlist", ErrEgressDenied, d.allow.dep, host)
		}
		ips, err = d.lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	for _, ip := range ips {
		if err := d.allow.check(host, nameOK, ip); err != nil {
			return nil, err
		}
	}
	var firstErr error
	for _, ip := range ips {
		c, err := d.net.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// Dial is DialContext for clients that take a dial function, such as Redis
// or gRPC: it applies the same allowlist to non-HTTP dependencies.
func (d *Dependency) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.dialer.DialContext(ctx, network, addr)
}
