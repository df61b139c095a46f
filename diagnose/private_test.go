package diagnose_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/dnstest"
)

// The private tree: a public root and a public alternate that count what
// they get, the resolver that serves the private zones (it knows their
// records, as a resolver that has them cached or configured does), and
// the private zones' own servers. All loopback.
const (
	ipPubRoot  = "127.0.4.1"
	ipPubAlt   = "127.0.4.2"
	ipResolver = "127.0.4.3"
	ipCorpNS   = "127.0.4.4" // serves corp.example.
	ipLameNS   = "127.0.4.5" // named for lame.example., serves nothing: REFUSED
)

var privateRecords = []string{
	"corp.example. NS ns1.corp.example.", "ns1.corp.example. A " + ipCorpNS, "www.corp.example. A 127.0.0.1",
	"lame.example. NS ns1.lame.example.", "ns1.lame.example. A " + ipLameNS,
	"public.example. NS ns1.corp.example.", "www.public.example. A 127.0.0.1",
}

// fakeResolver answers with recursion available, from what it knows, and
// SERVFAIL for the names in servfail.
type fakeResolver struct {
	*fakeAuth
	servfail map[string]bool
}

func (r fakeResolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if r.servfail[strings.ToLower(q.Question[0].Name)] {
		r.queries.Add(1)
		m := new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
		m.RecursionAvailable = true
		w.WriteMsg(m)
		return
	}
	r.fakeAuth.ServeDNS(&unauth{w}, q)
}

// unauth clears AA and sets RA on what it writes: a resolver's answer.
type unauth struct{ dns.ResponseWriter }

func (u *unauth) WriteMsg(m *dns.Msg) error {
	m.Authoritative, m.RecursionAvailable = false, true
	return u.ResponseWriter.WriteMsg(m)
}

func startPrivateTree(t *testing.T) (port int, servers map[string]*fakeAuth) {
	t.Helper()
	var rrs []dns.RR
	for _, txt := range privateRecords {
		rr, err := dns.NewRR(txt)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	servers = map[string]*fakeAuth{
		ipPubRoot:  {zones: []string{"."}, rrs: rrs}, // would answer, were it asked
		ipPubAlt:   {zones: []string{"."}, rrs: rrs},
		ipResolver: {zones: []string{"corp.example.", "lame.example.", "public.example."}, rrs: rrs},
		ipCorpNS:   {zones: []string{"corp.example.", "public.example."}, rrs: rrs},
		ipLameNS:   {},
	}
	ips := []string{ipPubRoot, ipPubAlt, ipResolver, ipCorpNS, ipLameNS}
	port, pcs, lns, err := bindTree(ips)
	if err != nil {
		t.Skip("binding the private tree:", err)
	}
	for i, ip := range ips {
		var h dns.Handler = servers[ip]
		if ip == ipResolver {
			h = fakeResolver{servers[ip], map[string]bool{"www.lame.example.": true}}
		}
		dnstest.Serve(t, &dns.Server{PacketConn: pcs[i], Handler: h})
		dnstest.Serve(t, &dns.Server{Listener: lns[i], Handler: h})
	}
	return port, servers
}

// TestPrivateNamesNeverLeave: a failing name under a forward zone or a
// private zone is asked of its own resolvers and the servers they name,
// and the public alternates and root hints get nothing; the verdict is
// still the one an expert gives, and says where nxray looked. A public
// name, in the same tree, does reach them: the counts can tell.
func TestPrivateNamesNeverLeave(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rcode   int
		cause   diagnose.Cause
		private bool
	}{
		{"nothere.corp.example.", dns.RcodeNameError, diagnose.NXDomainConfirmed, true},
		{"WWW.Lame.Example.", dns.RcodeServerFailure, diagnose.LameDelegation, true},
		// Private by default, and unknown to its resolver: nothing to go on
		// but what the resolver said, and no guess beyond it.
		{"printer.home.arpa.", dns.RcodeNameError, diagnose.Unknown, true},
		{"nothere.public.example.", dns.RcodeNameError, diagnose.NXDomainConfirmed, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port, servers := startPrivateTree(t)
			at := func(ip string) string { return fmt.Sprintf("%s:%d", ip, port) }
			resolver := at(ipResolver)
			p, err := diagnose.NewNetProber(diagnose.ProbeConfig{
				Upstreams:  []string{resolver},
				Alternates: []string{at(ipPubAlt)},
				RootHints:  []string{ipPubRoot}, AuthPort: port, Timeout: 500 * time.Millisecond,
				Private: []diagnose.PrivateZone{
					{Zone: "corp.example.", Resolvers: []string{resolver}},
					{Zone: "lame.example.", Resolvers: []string{resolver}},
					{Zone: "home.arpa.", Resolvers: []string{resolver}},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			f := diagnose.Failure{Name: tt.name, Qtype: dns.TypeA, Rcode: tt.rcode, Upstream: resolver}
			fd, ev := p.Probe(context.Background(), f, func() bool { return true })
			fd.Name, fd.Qtype, fd.Rcode, fd.Upstream = f.Name, f.Qtype, f.Rcode, f.Upstream
			r := diagnose.Classify(fd)
			public := servers[ipPubRoot].queries.Load() + servers[ipPubAlt].queries.Load()
			if tt.private && public != 0 {
				t.Errorf("the public root and alternate got %d queries for a private name\n%s", public, table(ev))
			}
			if !tt.private && servers[ipPubAlt].queries.Load() == 0 {
				t.Errorf("a public name was not asked of the alternate\n%s", table(ev))
			}
			if r.Cause != tt.cause {
				t.Errorf("cause %s, want %s\nsummary: %s\n%s", r.Cause, tt.cause, r.Summary, table(ev))
			}
			if note := strings.Contains(r.Summary, "is private: nxray asked only its resolvers ("+resolver); note != tt.private {
				t.Errorf("summary says where nxray looked: %v, want %v\nsummary: %s", note, tt.private, r.Summary)
			}
		})
	}
}
