package diagnose_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/internal/lab"
	"github.com/nxray/nxray/proxy"
)

// The lab: a signed private root, test., and a child zone per fault, with
// real-behaving resolvers in front, all on 127.0.0.x.
func startLab(t testing.TB) *lab.Hierarchy {
	t.Helper()
	h, err := lab.StartHierarchy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func newProber(t testing.TB, h *lab.Hierarchy, upstream string) *diagnose.NetProber {
	t.Helper()
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{
		Upstreams:  []string{upstream},
		Alternates: []string{h.Resolvers[lab.RoleValidating], h.Resolvers[lab.RoleNonvalidating]},
		RootHints:  h.RootHints, AuthPort: h.Port, TrustAnchors: h.TrustAnchors, Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEndToEnd sends a query in at the proxy and waits for the engine's
// verdict, for every cause the lab produces on a failing query.
func TestEndToEnd(t *testing.T) {
	h := startLab(t)
	tests := []struct {
		name     string
		upstream string // a resolver role, or "dead"
		rcode    int    // what the client sees
		cause    diagnose.Cause
		evidence string // a substring of one evidence row
	}{
		{"nothere.ok.test.", lab.RoleValidating, dns.RcodeNameError, diagnose.NXDomainConfirmed, "authoritative nothere.ok.test. A +norec +dnssec NXDOMAIN aa"},
		{"www.dsmismatch.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.DNSSECBogus, "alternate www.dsmismatch.test. A +cd +dnssec NOERROR"},
		{"www.expired.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.DNSSECExpired, "alternate www.expired.test. A +cd +dnssec NOERROR"},
		{"www.lame.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.LameDelegation, "authoritative www.lame.test. A +norec +dnssec REFUSED"},
		{"www.dead.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.AuthoritativeUnreachable, "authoritative www.dead.test. A +norec +dnssec  timeout"},
		{"blocked.ok.test.", lab.RoleFiltering, dns.RcodeNameError, diagnose.ResolverFiltering, "authoritative blocked.ok.test. A +norec +dnssec NOERROR aa"},
		{"new.ok.test.", lab.RoleStale, dns.RcodeNameError, diagnose.StaleNegativeCache, "authoritative new.ok.test. A +norec +dnssec NOERROR aa"},
		{"www.ok.test.", lab.RoleRefusing, dns.RcodeRefused, diagnose.UpstreamRefused, "alternate www.ok.test. A +dnssec NOERROR"},
		{"www.ok.test.", "dead", dns.RcodeServerFailure, diagnose.UpstreamUnreachable, "upstream . NS  timeout"},
	}
	for _, tt := range tests {
		t.Run(string(tt.cause), func(t *testing.T) {
			t.Parallel()
			up := h.Resolvers[tt.upstream]
			if tt.upstream == "dead" {
				up = h.DeadIP + ":" + strings.Split(h.Resolvers[lab.RoleValidating], ":")[1]
			}
			done := dnstest.NewLog()
			eng, err := diagnose.New(diagnose.Config{Prober: newProber(t, h, up), Logger: done.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(eng.Close)
			srv, err := proxy.New(proxy.Config{Listen: []string{"127.0.0.1:0"},
				Upstreams: []proxy.Upstream{{Net: "udp", Addr: up}}, Timeout: 3 * time.Second, Deadline: 4 * time.Second,
				ACL: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Observer: adapt.Observer(eng, "")})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Shutdown(context.Background()) })

			c := &dns.Client{Timeout: 6 * time.Second}
			q := new(dns.Msg).SetQuestion(tt.name, dns.TypeA)
			q.SetEdns0(1232, false)
			r, _, err := c.Exchange(q, srv.Addrs()[0].String())
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode {
				t.Fatalf("client got %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			done.WaitWithin(t, "diagnosis", 10*time.Second)
			v, ok := eng.Lookup(tt.name, dns.TypeA)
			if !ok {
				t.Fatal("no verdict stored")
			}
			if v.Cause != tt.cause {
				t.Fatalf("cause %s, want %s\nsummary: %s\n%s", v.Cause, tt.cause, v.Summary, table(v.Evidence))
			}
			if !strings.Contains(table(v.Evidence), tt.evidence) {
				t.Errorf("no evidence row with %q:\n%s", tt.evidence, table(v.Evidence))
			}
		})
	}
}

// TestExplainNamesThatResolve covers the causes nxray explain finds on
// names that resolve: a dead server, different NS sets, and nothing wrong.
func TestExplainNamesThatResolve(t *testing.T) {
	h := startLab(t)
	for _, tt := range []struct {
		name  string
		rcode int
		cause diagnose.Cause
	}{
		{"www.partial.test.", dns.RcodeSuccess, diagnose.PartialAuthoritativeOutage},
		{"www.nsmismatch.test.", dns.RcodeSuccess, diagnose.LameDelegation},
		{"www.ok.test.", dns.RcodeSuccess, diagnose.Healthy},
		// A signed denial's NSEC records belong to two owners, each signed on its own.
		{"nothere.ok.test.", dns.RcodeNameError, diagnose.NXDomainConfirmed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := h.Resolvers[lab.RoleValidating]
			p := newProber(t, h, up)
			f := diagnose.Failure{Name: tt.name, Qtype: dns.TypeA, Rcode: tt.rcode, Upstream: up}
			fd, ev := p.Probe(context.Background(), f, func() bool { return true })
			fd.Name, fd.Qtype, fd.Rcode, fd.Upstream, fd.Explain = f.Name, f.Qtype, f.Rcode, f.Upstream, true
			if r := diagnose.Classify(fd); r.Cause != tt.cause {
				t.Errorf("cause %s, want %s\nsummary: %s\n%s", r.Cause, tt.cause, r.Summary, table(ev))
			}
		})
	}
}

// TestWrongTrustAnchors: when nxray's anchors do not match the root, a
// signed zone's diagnosis says so.
func TestWrongTrustAnchors(t *testing.T) {
	h := startLab(t)
	wrong, _ := dns.NewRR(". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")
	up := h.Resolvers[lab.RoleValidating]
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: []string{up}, RootHints: h.RootHints,
		AuthPort: h.Port, TrustAnchors: []*dns.DS{wrong.(*dns.DS)}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := diagnose.Failure{Name: "www.ok.test.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Upstream: up}
	fd, _ := p.Probe(context.Background(), f, func() bool { return true })
	fd.Name, fd.Qtype, fd.Rcode, fd.Explain = f.Name, f.Qtype, f.Rcode, true
	r := diagnose.Classify(fd)
	if r.Cause != diagnose.DNSSECBogus || !strings.Contains(r.Summary, "trust anchors") {
		t.Errorf("cause %s: %s", r.Cause, r.Summary)
	}
}

func table(ev []diagnose.Evidence) string {
	var b strings.Builder
	for _, e := range ev {
		aa := ""
		if e.AA {
			aa = " aa"
		}
		b.WriteString(e.Server + " " + e.Role + " " + e.Query + " " + e.Rcode + aa + " " + e.Error + "\n")
	}
	return b.String()
}

// Each probe of a zone's server names that zone in its evidence, so that
// the page can draw the delegation path without guessing; resolvers name
// none.
func TestEvidenceZones(t *testing.T) {
	h := startLab(t)
	p := newProber(t, h, h.Resolvers[lab.RoleValidating])
	f := diagnose.Failure{Name: "nothere.ok.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Upstream: h.Resolvers[lab.RoleValidating]}
	_, ev := p.Probe(context.Background(), f, func() bool { return true })
	zones := map[string]bool{}
	for _, e := range ev {
		switch e.Role {
		case "upstream", "alternate":
			if e.Zone != "" {
				t.Errorf("resolver row names zone %q: %+v", e.Zone, e)
			}
		case "root":
			if e.Zone != "." {
				t.Errorf("root row names zone %q: %+v", e.Zone, e)
			}
		}
		if e.Query == "nothere.ok.test. A +norec +dnssec" && e.AA && e.Zone != "ok.test." {
			t.Errorf("ok.test.'s answer names zone %q: %+v", e.Zone, e)
		}
		zones[e.Zone] = true
	}
	for _, z := range []string{".", "test.", "ok.test."} {
		if !zones[z] {
			t.Errorf("no evidence row of zone %s:\n%s", z, table(ev))
		}
	}
}
