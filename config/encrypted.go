package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// parseEncrypted reads tls://host[:853][#name] or
// https://host[:443]/path[{?dns}][#name]: host is an IP or a name; #name
// is the name the certificate must carry when host is an IP; {?dns} (the
// URI template of RFC 8484) sends queries by GET rather than POST.
func parseEncrypted(s string) (Upstream, error) {
	// RFC 8484's URI template: a path ending in {?dns} asks by GET.
	base, frag, _ := strings.Cut(s, "#")
	get := strings.HasSuffix(base, "{?dns}")
	if get {
		s = strings.TrimSuffix(base, "{?dns}")
		if frag != "" {
			s += "#" + frag
		}
	}
	pu, err := url.Parse(s)
	if err != nil {
		return Upstream{}, fmt.Errorf("not a URL: %v", err)
	}
	u := Upstream{Net: pu.Scheme, ServerName: pu.Fragment, GET: get}
	if get && u.Net != "https" {
		return u, errors.New("{?dns} (GET) is for https:// only")
	}
	port := 853
	switch {
	case pu.User != nil:
		return u, errors.New("user information is not allowed")
	case pu.RawQuery != "" || pu.ForceQuery:
		return u, errors.New("a query string is not allowed")
	case pu.Hostname() == "":
		return u, errors.New("no host")
	case u.Net == "tls" && pu.Path != "":
		return u, errors.New("tls:// takes no path; want tls://host[:port][#name]")
	case u.Net == "https" && (pu.Path == "" || pu.Path == "/"):
		return u, errors.New("https:// needs the URL path, such as https://host/dns-query")
	}
	if u.Net == "https" {
		port, u.Path = 443, pu.EscapedPath()
	}
	if p := pu.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return u, fmt.Errorf("port %q is not a port to send to", p)
		}
		port = n
	}
	if u.ServerName != "" {
		if _, ok := dns.IsDomainName(u.ServerName); !ok || strings.ContainsAny(u.ServerName, " /") {
			return u, fmt.Errorf("#%s is not a name a certificate can carry", u.ServerName)
		}
	}
	host := pu.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		u.Addr = netip.AddrPortFrom(a.Unmap(), uint16(port)).String()
		return u, nil
	}
	if _, ok := dns.IsDomainName(host); !ok || strings.Contains(host, "%") {
		return u, fmt.Errorf("host %q is neither an IP address nor a name", host)
	}
	u.Host = strings.TrimSuffix(strings.ToLower(host), ".") + ":" + strconv.Itoa(port)
	if u.ServerName == "" {
		u.ServerName = strings.TrimSuffix(strings.ToLower(host), ".")
	}
	return u, nil
}

// loadTLS builds the roots encrypted upstreams are checked against: the
// system's plus those of file; nil for no file.
func loadTLS(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// validateBootstrap checks the bootstrap resolvers and reads
// tls_ca_file. "system" is read only when a name needs looking up
// (resolveNames): a resolv.conf nxray has no use for is no reason to fail.
func (c *Config) validateBootstrap(p *problems) {
	for _, s := range c.Bootstrap {
		if s == "system" {
			continue
		}
		u, err := ParseUpstream(s)
		switch {
		case err != nil:
			p.bad("bootstrap", s, err.Error())
		case u.Net != "udp" && u.Net != "tcp":
			p.bad("bootstrap", s, "a bootstrap resolver is a plain IP address, IP:port, udp:// or tcp://: it must not need a lookup itself")
		}
	}
	var err error
	if c.Parsed.TLS, err = loadTLS(c.TLSCAFile); err != nil {
		p.bad("tls_ca_file", c.TLSCAFile, err.Error())
	}
}

// lookupTimeout bounds the lookup of one upstream's name, every bootstrap
// resolver and both address types included.
const lookupTimeout = 5 * time.Second

// resolveNames looks up the named tls:// and https:// upstreams through
// the bootstrap resolvers (never through an encrypted upstream, so never
// through one itself), each name once, and fills in their addresses.
func (c *Config) resolveNames(p *problems) {
	cache := map[string]string{}
	c.Parsed.Bootstrap = nil
	parsed := false
	resolve := func(key string, list []Upstream) {
		for i := range list {
			u := &list[i]
			if u.Host == "" || u.Addr != "" {
				continue
			}
			if !parsed {
				var err error
				c.Parsed.Bootstrap, err = c.parseUpstreams("bootstrap", c.Bootstrap)
				p.add(err)
				parsed = true
			}
			name, port, _ := net.SplitHostPort(u.Host)
			if ip, ok := cache[name]; ok {
				if ip != "" {
					u.Addr = net.JoinHostPort(ip, port)
				}
				continue
			}
			ip, err := lookup(name, c.Parsed.Bootstrap)
			cache[name] = ip
			if err != nil {
				p.bad(key, u.Net+"://"+u.Host, err.Error())
				continue
			}
			u.Addr = net.JoinHostPort(ip, port)
		}
	}
	resolve("upstreams", c.Parsed.Upstreams)
	resolve("alternates", c.Parsed.Alternates)
	for _, z := range c.Parsed.ForwardZones {
		resolve("forward_zones: "+z.Zone, z.Upstreams)
	}
}

// lookup finds host's address through servers: an A record, else an
// AAAA, from the first server that answers.
func lookup(host string, servers []Upstream) (string, error) {
	if len(servers) == 0 {
		return "", fmt.Errorf("cannot look up %s: no bootstrap resolver", host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	var errs []error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		for _, s := range servers {
			a, err := lookupAt(ctx, host, qtype, s)
			if err == nil && a.IsValid() {
				return a.String(), nil
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", s, err))
			}
		}
	}
	if len(errs) == 0 {
		return "", fmt.Errorf("looking up %s through bootstrap: no address", host)
	}
	return "", fmt.Errorf("looking up %s through bootstrap: %w", host, errors.Join(errs...))
}

// lookupAt asks s for host's addresses of qtype; an invalid address
// and no error means it has none.
func lookupAt(ctx context.Context, host string, qtype uint16, s Upstream) (netip.Addr, error) {
	if ctx.Err() != nil {
		return netip.Addr{}, errors.New("timed out")
	}
	q := new(dns.Msg).SetQuestion(dns.Fqdn(host), qtype)
	cl := &dns.Client{Net: s.Net, Timeout: 2 * time.Second}
	r, _, err := cl.ExchangeContext(ctx, q, s.Addr)
	if err == nil && r.Truncated && s.Net == "udp" {
		cl.Net = "tcp"
		r, _, err = cl.ExchangeContext(ctx, q, s.Addr)
	}
	if err != nil {
		return netip.Addr{}, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return netip.Addr{}, fmt.Errorf("answered %s", dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				return a, nil
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
				return a, nil
			}
		}
	}
	return netip.Addr{}, nil
}
