package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// parseUpstreams parses a list of resolver addresses, expanding "system".
func (c *Config) parseUpstreams(key string, list []string) ([]Upstream, error) {
	var out []Upstream
	var errs []error
	for _, s := range list {
		if s == "system" {
			sys, err := SystemResolvers(c.ResolvConf)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %q: %v", ErrInvalid, key, s, err))
			}
			out = append(out, sys...)
			continue
		}
		u, err := ParseUpstream(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %q: %v", ErrInvalid, key, s, err))
			continue
		}
		out = append(out, u)
	}
	return out, errors.Join(errs...)
}

// ParseUpstream reads host, host:port, udp://host:port, tcp://host:port,
// tls://host[:853][#name] or https://host[:443]/path[#name]. The host of
// a plain upstream must be an IP address: nxray has no resolver to look
// names up with. That of tls:// or https:// may be a name, which
// Validate looks up through the bootstrap resolvers (Addr is "" until
// then).
func ParseUpstream(s string) (Upstream, error) {
	u := Upstream{Net: "udp"}
	rest := s
	switch {
	case strings.HasPrefix(s, "udp://"):
		rest = strings.TrimPrefix(s, "udp://")
	case strings.HasPrefix(s, "tcp://"):
		u.Net, rest = "tcp", strings.TrimPrefix(s, "tcp://")
	case strings.HasPrefix(s, "tls://"), strings.HasPrefix(s, "https://"):
		return parseEncrypted(s)
	case strings.Contains(s, "://"):
		return u, errors.New("scheme must be udp://, tcp://, tls:// or https://")
	}
	if a, err := netip.ParseAddr(strings.Trim(rest, "[]")); err == nil {
		u.Addr = netip.AddrPortFrom(a, 53).String()
		return u, nil
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return u, errors.New("want an IP address, IP:port, udp://IP:port or tcp://IP:port")
	}
	if ap.Port() == 0 {
		return u, errors.New("port 0 is not a port to send to")
	}
	u.Addr = ap.String()
	return u, nil
}

// SystemResolvers reads the nameserver lines of a resolv.conf file.
func SystemResolvers(path string) ([]Upstream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading system resolvers: %w", err)
	}
	defer f.Close()
	var out []Upstream
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		if u, err := ParseUpstream(fields[1]); err == nil {
			out = append(out, u)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no nameserver line in %s", path)
	}
	return out, nil
}

// checkLoops rejects an upstream that is one of nxray's own listen
// addresses: every query would come back to nxray until the deadline.
func checkLoops(listen []netip.AddrPort, ups []Upstream) []error {
	var errs []error
	for _, u := range ups {
		ua, err := netip.ParseAddrPort(u.Addr)
		if err != nil {
			continue
		}
		for _, l := range listen {
			if l.Port() != ua.Port() {
				continue
			}
			if l.Addr() == ua.Addr() || (l.Addr().IsUnspecified() && isLocal(ua.Addr())) {
				errs = append(errs, fmt.Errorf("%w: upstreams: %q: is nxray's own listen address %s; queries would loop back to nxray",
					ErrInvalid, u.String(), l))
			}
		}
	}
	return errs
}

func isLocal(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.Unmap() {
				return true
			}
		}
	}
	return false
}
