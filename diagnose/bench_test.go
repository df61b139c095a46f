package diagnose_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/lab"
)

// BenchmarkDiagnose measures one whole diagnosis in the lab, probes and
// classification, per cause. Causes that rest on a silent server take the
// probe timeout (300ms here) by nature; the others should take a few ms.
func BenchmarkDiagnose(b *testing.B) {
	h, err := lab.StartHierarchy()
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	for _, sc := range []struct {
		name  string
		role  string
		rcode int
		cause diagnose.Cause
	}{
		{"nothere.ok.test.", lab.RoleValidating, dns.RcodeNameError, diagnose.NXDomainConfirmed},
		{"new.ok.test.", lab.RoleStale, dns.RcodeNameError, diagnose.StaleNegativeCache},
		{"blocked.ok.test.", lab.RoleFiltering, dns.RcodeNameError, diagnose.ResolverFiltering},
		{"www.dsmismatch.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.DNSSECBogus},
		{"www.expired.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.DNSSECExpired},
		{"www.lame.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.LameDelegation},
		{"www.ok.test.", lab.RoleRefusing, dns.RcodeRefused, diagnose.UpstreamRefused},
		{"www.dead.test.", lab.RoleValidating, dns.RcodeServerFailure, diagnose.AuthoritativeUnreachable},
		{"www.partial.test.", lab.RoleValidating, dns.RcodeSuccess, diagnose.PartialAuthoritativeOutage},
		{"www.ok.test.", "dead", diagnose.NoAnswer, diagnose.UpstreamUnreachable},
	} {
		b.Run(string(sc.cause), func(b *testing.B) {
			up := h.Resolvers[sc.role]
			if sc.role == "dead" {
				up = net.JoinHostPort(h.DeadIP, fmt.Sprint(h.Port))
			}
			p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: []string{up},
				Alternates: []string{h.Resolvers[lab.RoleValidating], h.Resolvers[lab.RoleNonvalidating]},
				RootHints:  h.RootHints, AuthPort: h.Port, TrustAnchors: h.TrustAnchors, Timeout: 300 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			f := diagnose.Failure{Name: sc.name, Qtype: dns.TypeA, Rcode: sc.rcode, Upstream: up}
			b.ReportAllocs()
			for b.Loop() {
				fd, _ := p.Probe(context.Background(), f, func() bool { return true })
				fd.Name, fd.Qtype, fd.Rcode, fd.Upstream, fd.Explain = f.Name, f.Qtype, f.Rcode, f.Upstream, true
				if r := diagnose.Classify(fd); r.Cause != sc.cause {
					b.Fatalf("cause %s, want %s", r.Cause, sc.cause)
				}
			}
		})
	}
}
