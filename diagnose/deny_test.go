package diagnose_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/dnstest"
)

// The addresses of the tree below. Every one is loopback, and so is every
// address its servers hand out: whatever nxray does, nothing leaves the
// machine. Denied and self are live servers that count what they get, so
// a test sees any probe that reaches them.
const (
	ipTreeRoot = "127.0.3.1"  // ".", which delegates every zone below
	ipLive     = "127.0.3.2"  // mixed.test. (ns2) and hosts.test.
	ipSelf     = "127.0.3.3"  // self.test.: nxray's own listen address in the tests
	ipUp       = "127.0.3.4"  // the upstream resolver
	ipDenied   = "127.0.3.99" // in the tests' deny list; serves every zone that names it
)

// treeZones is who serves what: zones, then records, by IP.
var treeZones = map[string]struct {
	zones []string
	rrs   []string
}{
	ipTreeRoot: {[]string{"."}, []string{
		"denied.test. NS ns1.denied.test.", "ns1.denied.test. A " + ipDenied,
		"mixed.test. NS ns1.mixed.test.", "mixed.test. NS ns2.mixed.test.",
		"ns1.mixed.test. A " + ipDenied, "ns2.mixed.test. A " + ipLive,
		"self.test. NS ns1.self.test.", "ns1.self.test. A " + ipSelf,
		// No glue: nxray must find ns.hosts.test.'s address itself.
		"glueless.test. NS ns.hosts.test.",
		"hosts.test. NS ns1.hosts.test.", "ns1.hosts.test. A " + ipLive,
	}},
	ipLive: {[]string{"mixed.test.", "hosts.test."}, []string{
		"mixed.test. NS ns1.mixed.test.", "mixed.test. NS ns2.mixed.test.",
		"ns1.mixed.test. A " + ipDenied, "ns2.mixed.test. A " + ipLive, "www.mixed.test. A 127.0.0.1",
		"hosts.test. NS ns1.hosts.test.", "ns1.hosts.test. A " + ipLive, "ns.hosts.test. A " + ipDenied,
	}},
	ipSelf: {[]string{"self.test."}, []string{
		"self.test. NS ns1.self.test.", "ns1.self.test. A " + ipSelf, "www.self.test. A 127.0.0.1",
	}},
	// Were it asked, it would answer for all its zones: the verdicts would
	// show it, as well as its count.
	ipDenied: {[]string{"denied.test.", "mixed.test.", "glueless.test."}, []string{
		"denied.test. NS ns1.denied.test.", "ns1.denied.test. A " + ipDenied, "www.denied.test. A 127.0.0.1",
		"mixed.test. NS ns1.mixed.test.", "mixed.test. NS ns2.mixed.test.",
		"ns1.mixed.test. A " + ipDenied, "ns2.mixed.test. A " + ipLive, "www.mixed.test. A 127.0.0.1",
		"nothere.mixed.test. A 127.0.0.1",
		"glueless.test. NS ns.hosts.test.", "www.glueless.test. A 127.0.0.1",
	}},
}

// fakeAuth answers from its records as an authoritative server of its
// zones does: the records with AA, a referral (NS and glue) for a name at
// or below a cut, or NODATA or NXDOMAIN with the zone's SOA; REFUSED for a
// name in none of its zones. It counts the queries and their names.
type fakeAuth struct {
	zones   []string
	rrs     []dns.RR
	queries atomic.Int32
	mu      sync.Mutex // guards names
	names   []string
}

func (s *fakeAuth) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.queries.Add(1)
	q := r.Question[0]
	s.mu.Lock()
	s.names = append(s.names, strings.ToLower(q.Name))
	s.mu.Unlock()
	m := new(dns.Msg).SetReply(r)
	defer w.WriteMsg(m)
	zone := ""
	for _, z := range s.zones {
		if dns.IsSubDomain(z, q.Name) && len(z) > len(zone) {
			zone = z
		}
	}
	if zone == "" {
		m.Rcode = dns.RcodeRefused
		return
	}
	for _, rr := range s.rrs {
		if ns, ok := rr.(*dns.NS); ok && ns.Hdr.Name != zone && dns.IsSubDomain(ns.Hdr.Name, q.Name) {
			m.Ns, m.Extra = s.with(ns.Hdr.Name, dns.TypeNS), s.glue(s.with(ns.Hdr.Name, dns.TypeNS))
			return
		}
	}
	m.Authoritative = true
	if m.Answer = s.with(q.Name, q.Qtype); len(m.Answer) > 0 {
		m.Extra = s.glue(m.Answer)
		return
	}
	soa, _ := dns.NewRR(zone + " 300 IN SOA ns." + zone + " hostmaster." + zone + " 1 3600 600 86400 300")
	m.Ns = []dns.RR{soa}
	for _, rr := range s.rrs {
		if dns.IsSubDomain(q.Name, rr.Header().Name) {
			return // the name exists: no data of this type
		}
	}
	m.Rcode = dns.RcodeNameError
}

// with is the records of name and type.
func (s *fakeAuth) with(name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range s.rrs {
		if strings.EqualFold(rr.Header().Name, name) && rr.Header().Rrtype == t {
			out = append(out, rr)
		}
	}
	return out
}

// glue is the address records of the NS names in rrs.
func (s *fakeAuth) glue(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if ns, ok := rr.(*dns.NS); ok {
			out = append(out, s.with(ns.Ns, dns.TypeA)...)
		}
	}
	return out
}

// fakeTree is the tree's servers, every one on port, UDP and TCP, since
// nxray asks every authoritative server at one port.
type fakeTree struct {
	port    int
	servers map[string]*fakeAuth
}

func startTree(t *testing.T) *fakeTree {
	t.Helper()
	tr := &fakeTree{servers: map[string]*fakeAuth{}}
	ips := []string{ipTreeRoot, ipLive, ipSelf, ipUp, ipDenied}
	for _, ip := range ips {
		s := &fakeAuth{zones: treeZones[ip].zones}
		for _, txt := range treeZones[ip].rrs {
			rr, err := dns.NewRR(txt)
			if err != nil {
				t.Fatal(err)
			}
			s.rrs = append(s.rrs, rr)
		}
		tr.servers[ip] = s
	}
	var err error
	for range 10 {
		var pcs []net.PacketConn
		var lns []net.Listener
		if tr.port, pcs, lns, err = bindTree(ips); err == nil {
			for i, ip := range ips {
				dnstest.Serve(t, &dns.Server{PacketConn: pcs[i], Handler: tr.servers[ip]})
				dnstest.Serve(t, &dns.Server{Listener: lns[i], Handler: tr.servers[ip]})
			}
			return tr
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	t.Fatal(err)
	return nil
}

// bindTree binds one port, free on every address; on failure it closes
// what it bound.
func bindTree(ips []string) (int, []net.PacketConn, []net.Listener, error) {
	var pcs []net.PacketConn
	var lns []net.Listener
	fail := func(err error) (int, []net.PacketConn, []net.Listener, error) {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, ln := range lns {
			ln.Close()
		}
		return 0, nil, nil, err
	}
	port := "0"
	for _, ip := range ips {
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(ip, port))
		if err != nil {
			return fail(err)
		}
		pcs = append(pcs, pc)
		port = fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port)
		ln, err := net.Listen("tcp4", net.JoinHostPort(ip, port))
		if err != nil {
			return fail(err)
		}
		lns = append(lns, ln)
	}
	return pcs[0].LocalAddr().(*net.UDPAddr).Port, pcs, lns, nil
}

func (tr *fakeTree) addr(ip string) string { return net.JoinHostPort(ip, fmt.Sprint(tr.port)) }

// TestNeverProbeDenied: servers at denied addresses (in the deny list, or
// nxray's own listen address) get no query at all, whatever NS records,
// glue or a glueless NS name's address records lead to them; the verdict
// says they were not probed, and never calls their zone healthy or the
// name missing on their account. Servers beside them are still asked.
func TestNeverProbeDenied(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rcode   int
		cause   diagnose.Cause
		silent  string // the server that must get nothing
		heard   string // a server that must be asked, if any
		mention string // in the summary
	}{
		{"www.denied.test.", dns.RcodeServerFailure, diagnose.AuthoritativeUnreachable, ipDenied, "", "deny_networks"},
		{"www.denied.test.", dns.RcodeSuccess, diagnose.Unknown, ipDenied, "", "deny_networks"},
		{"www.glueless.test.", dns.RcodeNameError, diagnose.AuthoritativeUnreachable, ipDenied, ipLive, "deny_networks"},
		{"www.self.test.", dns.RcodeServerFailure, diagnose.AuthoritativeUnreachable, ipSelf, "", "own listen address"},
		{"www.self.test.", dns.RcodeSuccess, diagnose.Unknown, ipSelf, "", "own listen address"},
		// One server denied, one live: the live one's word stands.
		{"nothere.mixed.test.", dns.RcodeNameError, diagnose.NXDomainConfirmed, ipDenied, ipLive, "not probed"},
		{"www.mixed.test.", dns.RcodeSuccess, diagnose.LameDelegation, ipDenied, ipLive, "not probed"},
	} {
		t.Run(fmt.Sprintf("%s %s", tt.name, dns.RcodeToString[tt.rcode]), func(t *testing.T) {
			tr := startTree(t)
			up := tr.addr(ipUp)
			p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: []string{up},
				RootHints: []string{ipTreeRoot}, AuthPort: tr.port, Timeout: 300 * time.Millisecond,
				Deny: append(defaultDeny(), netip.MustParsePrefix(ipDenied+"/32")),
				// nxray's own address, and the live server's IP at
				// another port: only the exact listen port is nxray's.
				Self: []netip.AddrPort{netip.MustParseAddrPort(tr.addr(ipSelf)),
					netip.AddrPortFrom(netip.MustParseAddr(ipLive), uint16(tr.port+1))},
			})
			if err != nil {
				t.Fatal(err)
			}
			f := diagnose.Failure{Name: tt.name, Qtype: dns.TypeA, Rcode: tt.rcode, Upstream: up}
			fd, ev := p.Probe(context.Background(), f, func() bool { return true })
			fd.Name, fd.Qtype, fd.Rcode, fd.Upstream, fd.Explain = f.Name, f.Qtype, f.Rcode, f.Upstream, true
			r := diagnose.Classify(fd)
			if n := tr.servers[tt.silent].queries.Load(); n != 0 {
				t.Errorf("%s got %d queries, want none\n%s", tt.silent, n, table(ev))
			}
			if tt.heard != "" && tr.servers[tt.heard].queries.Load() == 0 {
				t.Errorf("%s got no query\n%s", tt.heard, table(ev))
			}
			if r.Cause != tt.cause || !strings.Contains(r.Summary, tt.mention) {
				t.Errorf("cause %s, want %s mentioning %q\nsummary: %s\n%s", r.Cause, tt.cause, tt.mention, r.Summary, table(ev))
			}
			if !strings.Contains(table(ev), tr.addr(tt.silent)+" authoritative") || !strings.Contains(table(ev), "not probed: ") {
				t.Errorf("no evidence row says %s was not probed:\n%s", tr.addr(tt.silent), table(ev))
			}
			// The glueless NS name is looked up by nxray's own walk from
			// the root, never through the upstream.
			up0 := tr.servers[ipUp]
			up0.mu.Lock()
			defer up0.mu.Unlock()
			for _, n := range up0.names {
				if n != strings.ToLower(tt.name) && n != "." {
					t.Errorf("the upstream was asked %s", n)
				}
			}
		})
	}
}

// defaultDeny is config's default diagnosis.deny_networks.
func defaultDeny() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::/128", "fe80::/10", "ff00::/8"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
