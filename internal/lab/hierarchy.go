package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Roles of the lab's recursive resolvers, the keys of Hierarchy.Resolvers.
const (
	RoleValidating    = "validating"    // validates from TrustAnchors; SERVFAIL + EDE when bogus
	RoleNonvalidating = "nonvalidating" // resolves without validating
	RoleFiltering     = "filtering"     // NXDOMAIN without SOA for blocked.ok.test.
	RoleRefusing      = "refusing"      // REFUSED for everything
	RoleStale         = "stale"         // NXDOMAIN for new.ok.test. with an old SOA
)

var resolverIPs = map[string]string{
	RoleValidating: ipValidating, RoleNonvalidating: ipNonvalidating,
	RoleFiltering: ipFiltering, RoleRefusing: ipRefusing, RoleStale: ipStale,
}

// Hierarchy is a private DNS tree on loopback: a signed root, the TLD test.,
// children of test. that are healthy or broken in one way each, and
// recursive resolvers that behave like real ones do in front of them. It
// exists so the diagnosis engine can be tested end to end without the
// Internet. Fields are set by StartHierarchy and read-only afterwards.
type Hierarchy struct {
	Port         int               // every lab server listens here, UDP and TCP
	RootHints    []string          // root server IPs (no port)
	TrustAnchors []*dns.DS         // DS of the lab root's KSK
	Resolvers    map[string]string // Role* -> "IP:port"
	DeadIP       string            // bound on Port but never answers: queries time out

	// Servers maps each lab zone ("." , "test.", "ok.test.", ...) to the
	// "IP:port" of every name server its parent delegates to, dead ones
	// included, in the parent's order.
	Servers map[string][]string

	cancel  context.CancelFunc // ends in-flight resolutions on Close
	servers []*dns.Server      // all started
	holes   []io.Closer        // DeadIP's sockets
	wg      sync.WaitGroup     // one per server goroutine
	once    sync.Once
}

// StartHierarchy builds, signs and serves the whole lab. It binds only
// 127.0.0.x addresses and its resolvers only send to 127.0.0.x.
func StartHierarchy() (*Hierarchy, error) {
	lz, err := buildZones(time.Now())
	if err != nil {
		return nil, fmt.Errorf("lab zones: %w", err)
	}
	ips := []string{ipDead}
	for ip := range lz.byIP {
		ips = append(ips, ip)
	}
	for _, ip := range resolverIPs {
		ips = append(ips, ip)
	}
	slices.Sort(ips)
	port, pcs, lns, err := bindAll(ips)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hierarchy{
		Port: port, RootHints: []string{ipRoot}, TrustAnchors: lz.anchors, DeadIP: ipDead,
		Resolvers: map[string]string{}, Servers: map[string][]string{}, cancel: cancel,
	}
	for zone, zips := range lz.delegated {
		for _, ip := range zips {
			h.Servers[zone] = append(h.Servers[zone], h.addr(ip))
		}
	}
	h.Servers["."] = []string{h.addr(ipRoot)}
	roots := []string{h.addr(ipRoot)}
	handlers := map[string]dns.Handler{}
	for ip, zones := range lz.byIP {
		handlers[ip] = &authServer{zones: zones}
	}
	for role, ip := range resolverIPs {
		h.Resolvers[role] = h.addr(ip)
		handlers[ip] = newRecursive(ctx, role, roots, lz.anchors, port)
	}
	h.holes = []io.Closer{pcs[ipDead], lns[ipDead]}
	delete(pcs, ipDead)
	delete(lns, ipDead)
	h.serve(handlers, pcs, lns)
	return h, nil
}

// addr is ip joined with the lab port.
func (h *Hierarchy) addr(ip string) string { return net.JoinHostPort(ip, fmt.Sprint(h.Port)) }

// serve starts one dns.Server per socket and returns once all of them run,
// so a query sent right after StartHierarchy is answered.
func (h *Hierarchy) serve(handlers map[string]dns.Handler, pcs map[string]net.PacketConn, lns map[string]net.Listener) {
	started := make(chan struct{}, len(pcs)+len(lns))
	notify := func() { started <- struct{}{} }
	for ip, pc := range pcs {
		h.servers = append(h.servers, &dns.Server{PacketConn: pc, Handler: handlers[ip], NotifyStartedFunc: notify})
	}
	for ip, ln := range lns {
		h.servers = append(h.servers, &dns.Server{Listener: ln, Handler: handlers[ip], NotifyStartedFunc: notify,
			IdleTimeout: func() time.Duration { return 2 * time.Second }})
	}
	for _, s := range h.servers {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			_ = s.ActivateAndServe() // returns when Close shuts it down
		}()
	}
	for range h.servers {
		<-started
	}
}

// Close stops every server and resolver and waits for all their goroutines.
// It is safe to call more than once.
func (h *Hierarchy) Close() {
	h.once.Do(func() {
		h.cancel()
		for _, s := range h.servers {
			_ = s.ShutdownContext(context.Background())
		}
		for _, c := range h.holes {
			_ = c.Close()
		}
		h.wg.Wait()
	})
}

// bindAll finds one port free on every address, UDP and TCP: the kernel
// picks a free UDP port on the first address and the rest must follow; a
// clash (another lab, another test) closes everything and tries again.
func bindAll(ips []string) (int, map[string]net.PacketConn, map[string]net.Listener, error) {
	var lastErr error
	for range 10 {
		pcs, lns := map[string]net.PacketConn{}, map[string]net.Listener{}
		port, err := bindPort(ips, pcs, lns)
		if err == nil {
			return port, pcs, lns, nil
		}
		for _, pc := range pcs {
			pc.Close()
		}
		for _, ln := range lns {
			ln.Close()
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return 0, nil, nil, err
		}
		lastErr = err
	}
	return 0, nil, nil, fmt.Errorf("lab: no port free on all lab addresses: %w", lastErr)
}

func bindPort(ips []string, pcs map[string]net.PacketConn, lns map[string]net.Listener) (int, error) {
	first, err := net.ListenPacket("udp4", net.JoinHostPort(ips[0], "0"))
	if err != nil {
		return 0, fmt.Errorf("binding %s: %w", ips[0], err)
	}
	pcs[ips[0]] = first
	port := first.LocalAddr().(*net.UDPAddr).Port
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, fmt.Sprint(port))
		if ip != ips[0] {
			if pcs[ip], err = net.ListenPacket("udp4", addr); err != nil {
				delete(pcs, ip)
				return 0, fmt.Errorf("binding udp %s: %w", addr, err)
			}
		}
		if lns[ip], err = net.Listen("tcp4", addr); err != nil {
			delete(lns, ip)
			return 0, fmt.Errorf("binding tcp %s: %w", addr, err)
		}
	}
	return port, nil
}
