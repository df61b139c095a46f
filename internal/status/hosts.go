package status

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ifaceTTL is how long the machine's interface addresses are trusted
// before they are listed again: a new DHCP or VPN address is answered
// within seconds, and a flood of unknown Hosts costs one listing per TTL.
const ifaceTTL = 5 * time.Second

// hostGuard says which Host headers are this server's own. A page whose
// name an attacker rebinds to 127.0.0.1 (DNS rebinding) is same-origin with
// the status page as far as the browser knows, so neither CORS nor
// Sec-Fetch-Site stop it; only its Host header, which carries the
// attacker's name, gives it away. Safe for concurrent use.
type hostGuard struct {
	// names match on any port: lowercased, without a trailing dot, an
	// address in netip's canonical form (so "::0:1" is "::1").
	names map[string]bool
	// hostPorts match exactly, as net.JoinHostPort writes them.
	hostPorts map[string]bool
	// anyIface: the server listens on every interface, so each of the
	// machine's own addresses is a Host it answers to.
	anyIface bool
	ifaces   ifaceAddrs
}

// newHostGuard accepts, beyond loopback, addr's host (unless it is
// unspecified, when every interface address counts) and extra, each a host
// (any port) or host:port.
func newHostGuard(addr string, extra []string, now func() time.Time) *hostGuard {
	g := &hostGuard{names: map[string]bool{}, hostPorts: map[string]bool{},
		ifaces: ifaceAddrs{list: net.InterfaceAddrs, now: now}}
	host, _ := splitHost(addr)
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		g.anyIface = true
	} else {
		// Any port: behind a port forward (docker -p 8080:8053) the browser
		// names another port, and a port never helps a rebinding page.
		g.names[host] = true
	}
	for _, h := range extra {
		if host, port := splitHost(h); port == "" {
			g.names[host] = true
		} else {
			g.hostPorts[net.JoinHostPort(host, port)] = true
		}
	}
	return g
}

// allowed says whether hostport, a request's Host, is one of ours.
func (g *hostGuard) allowed(hostport string) bool {
	host, port := splitHost(hostport)
	switch {
	case hostport == "":
		// HTTP/1.0 without Host: no browser sends that, so it cannot come
		// from a rebound page.
		return true
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		// Browsers resolve localhost and its subdomains to loopback
		// themselves (RFC 6761), and no one can delegate them in the DNS,
		// so an attacker cannot rebind them.
		return true
	case g.names[host]:
		return true
	}
	if a, err := netip.ParseAddr(host); err == nil {
		// An address literal cannot be rebound; it must still be ours, or
		// the request was meant for another server.
		return a.IsLoopback() || (g.anyIface && g.ifaces.has(a))
	}
	if port == "" {
		// The browser leaves out the scheme's default port, and behind a
		// TLS proxy the scheme may be https.
		return g.hostPorts[net.JoinHostPort(host, "80")] || g.hostPorts[net.JoinHostPort(host, "443")]
	}
	return g.hostPorts[net.JoinHostPort(host, port)]
}

// splitHost splits "host", "host:port", "[v6]:port", "[v6]" or a bare v6
// address, and canonicalizes host (see hostGuard.names).
func splitHost(hostport string) (host, port string) {
	host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().WithZone("").String()
	}
	return host, port
}

// ifaceAddrs caches the machine's interface addresses for ifaceTTL.
type ifaceAddrs struct {
	list func() ([]net.Addr, error) // net.InterfaceAddrs; tests replace it
	now  func() time.Time

	mu    sync.Mutex // guards the fields below
	addrs map[netip.Addr]bool
	until time.Time
}

func (c *ifaceAddrs) has(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.addrs == nil || !now.Before(c.until) {
		c.addrs, c.until = map[netip.Addr]bool{}, now.Add(ifaceTTL)
		list, _ := c.list() // on error, no interface address is ours until the next try
		for _, n := range list {
			if p, err := netip.ParsePrefix(n.String()); err == nil {
				c.addrs[p.Addr().Unmap().WithZone("")] = true
			}
		}
	}
	return c.addrs[a]
}

// checkHost answers 421 Misdirected Request to a request whose Host is not
// one of ours, before it reaches anything that reads data or does work.
// /healthz stays open, as it does without the token: it says only "ok", and
// orchestrators probe it by whatever address or name routes to them.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || s.hosts.allowed(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if len(host) > 100 {
			host = host[:100] + "…"
		}
		s.log.Debug("status page: request for another host refused", "host", host)
		refuse(w, r, http.StatusMisdirectedRequest, "this status page answers only to its own names and addresses, not to "+
			strconv.Quote(host)+"; if that is how you reach it, add it to http_hosts")
	})
}

// refuse answers msg as JSON under /api/ and as plain text elsewhere.
func refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, code, msg)
		return
	}
	http.Error(w, msg, code)
}
