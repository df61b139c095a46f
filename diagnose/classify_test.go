package diagnose

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// good, dead, refused and alt build probe answers tersely.
func good(server string, rcode int) Answer {
	return Answer{Server: server, Host: "ns-" + server, Rcode: rcode, AA: true, Answers: btoi(rcode == dns.RcodeSuccess)}
}
func dead(server string) Answer {
	return Answer{Server: server, Host: "ns-" + server, Rcode: NoAnswer, Err: "timeout"}
}
func refused(server string) Answer {
	return Answer{Server: server, Host: "ns-" + server, Rcode: dns.RcodeRefused}
}
func alt(server string, cd bool, rcode int) Answer {
	return Answer{Server: server, CD: cd, Rcode: rcode}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestClassify(t *testing.T) {
	base := func(rcode int, mod func(*Findings)) Findings {
		f := Findings{Name: "www.example.test.", Qtype: dns.TypeA, Rcode: rcode, Upstream: "192.0.2.53:53",
			Zone: "example.test."}
		mod(&f)
		return f
	}
	zoneSOA := &SOA{Zone: "example.test.", Serial: 2026112602, TTL: 3600, Minimum: 300}
	tests := []struct {
		name    string
		f       Findings
		cause   Cause
		ede     int
		mention []string // in the summary
	}{
		{"nxdomain confirmed by the zone's servers", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeNameError), good("192.0.2.2:53", dns.RcodeNameError)}
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeNameError)}
		}), NXDomainConfirmed, 0, []string{"192.0.2.1:53", "192.0.2.2:53", "does not exist"}},

		{"stale negative cache: older serial", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.ZoneSOA = zoneSOA
			f.UpstreamSOA = &SOA{Zone: "example.test.", Serial: 2026112601, TTL: 120, Minimum: 300}
		}), StaleNegativeCache, 19, []string{"192.0.2.53:53", "120s", "2026112601"}},

		{"resolver filtering: NXDOMAIN with no SOA", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.ZoneSOA = zoneSOA
		}), ResolverFiltering, 17, []string{"192.0.2.53:53", "no SOA"}},

		{"resolver filtering: someone else's SOA", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.ZoneSOA = zoneSOA
			f.UpstreamSOA = &SOA{Zone: "rpz.local.", Serial: 1, TTL: 60, Minimum: 60}
		}), ResolverFiltering, 17, []string{"rpz.local."}},

		{"NXDOMAIN from one resolver only", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeSuccess), alt("198.51.100.2:53", false, dns.RcodeSuccess)}
		}), ResolverFiltering, 17, []string{"192.0.2.53:53"}},

		{"dnssec bogus: CD=1 answers where CD=0 fails", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeServerFailure), alt("198.51.100.1:53", true, dns.RcodeSuccess)}
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.Chain = &Chain{Signed: true, DSMismatch: true, Detail: "DS key tag 111 matches no DNSKEY (222)"}
		}), DNSSECBogus, 9, []string{"198.51.100.1:53", "DS key tag 111"}},

		{"dnssec bogus: an RRset without RRSIG", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Chain = &Chain{Signed: true, RRSIGMissing: true, Detail: "no RRSIG over www.example.test. A"}
		}), DNSSECBogus, 10, []string{"no RRSIG"}},

		{"dnssec bogus: a signature that does not verify", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Chain = &Chain{Signed: true, BadSignature: true, Detail: "RRSIG www.example.test. A does not verify"}
		}), DNSSECBogus, 6, []string{"does not verify"}},

		{"dnssec: signatures not yet valid", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Chain = &Chain{Signed: true, NotYetValid: true, Detail: "RRSIG example.test. DNSKEY not valid before 2027-01-01"}
		}), DNSSECExpired, 8, []string{"not valid before"}},

		{"dnssec bogus from the alternates alone", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeServerFailure), alt("198.51.100.1:53", true, dns.RcodeNameError)}
		}), DNSSECBogus, 6, []string{"198.51.100.1:53"}},

		{"dnssec: the root matches none of nxray's trust anchors", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Chain = &Chain{Signed: true, AnchorMismatch: true, Detail: "the root's DNSKEY set (key tags 1) matches none of nxray's trust anchors (key tags 2)"}
		}), DNSSECBogus, 9, []string{"trust anchors"}},

		{"dnssec expired", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Chain = &Chain{Signed: true, Expired: true, Detail: "RRSIG DNSKEY expired 2026-11-01"}
		}), DNSSECExpired, 7, []string{"example.test.", "expired 2026-11-01"}},

		{"dnssec expired from the upstream's EDE", base(dns.RcodeServerFailure, func(f *Findings) {
			f.UpstreamEDE = []uint16{dns.ExtendedErrorCodeSignatureExpired}
		}), DNSSECExpired, 7, nil},

		{"lame: a listed server refuses the zone", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Auth = []Answer{refused("192.0.2.9:53"), good("192.0.2.1:53", dns.RcodeSuccess)}
		}), LameDelegation, 22, []string{"192.0.2.9:53", "REFUSED"}},

		{"lame: answers without AA", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Auth = []Answer{{Server: "192.0.2.9:53", Rcode: dns.RcodeSuccess}}
		}), LameDelegation, 22, []string{"192.0.2.9:53", "without AA"}},

		{"no server of the zone answers", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Auth = []Answer{dead("192.0.2.1:53"), dead("192.0.2.2:53")}
		}), AuthoritativeUnreachable, 22, []string{"192.0.2.1:53", "192.0.2.2:53", "timeout"}},

		{"one of two servers dead", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Auth = []Answer{dead("192.0.2.1:53"), good("192.0.2.2:53", dns.RcodeSuccess)}
		}), PartialAuthoritativeOutage, 23, []string{"192.0.2.1:53", "192.0.2.2:53"}},

		{"some alternates fail, some answer, no DNSSEC contrast", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeServerFailure), alt("198.51.100.1:53", true, dns.RcodeServerFailure),
				alt("198.51.100.2:53", false, dns.RcodeSuccess)}
			f.Auth = []Answer{dead("192.0.2.1:53"), good("192.0.2.2:53", dns.RcodeSuccess)}
		}), PartialAuthoritativeOutage, 23, nil},

		{"upstream refuses while alternates answer", base(dns.RcodeRefused, func(f *Findings) {
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeSuccess)}
		}), UpstreamRefused, 18, []string{"192.0.2.53:53", "198.51.100.1:53"}},

		{"everyone refuses: not the upstream's policy", base(dns.RcodeRefused, func(f *Findings) {
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeRefused)}
		}), Unknown, -1, nil},

		{"no upstream answered and they fail the health probe", base(NoAnswer, func(f *Findings) {
			f.Upstream = "192.0.2.53:53, 192.0.2.54:53"
		}), UpstreamUnreachable, 22, []string{"192.0.2.53:53", "192.0.2.54:53"}},

		{"upstream times out on one name only: the name's servers", base(NoAnswer, func(f *Findings) {
			f.UpstreamHealthy = true
			f.Auth = []Answer{dead("192.0.2.1:53")}
		}), AuthoritativeUnreachable, 22, []string{"192.0.2.1:53"}},

		{"truncated and TCP fails", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Auth = []Answer{{Server: "192.0.2.1:53", Rcode: dns.RcodeSuccess, AA: true, Truncated: true, TCPFailed: true}}
		}), TruncatedNoTCP, 23, []string{"192.0.2.1:53", "TCP"}},

		{"nothing explains it", base(dns.RcodeServerFailure, func(f *Findings) {}), Unknown, -1, []string{"SERVFAIL"}},

		{"explain: healthy", base(dns.RcodeSuccess, func(f *Findings) {
			f.Explain = true
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess), good("192.0.2.2:53", dns.RcodeSuccess)}
			f.ParentNS, f.ChildNS = []string{"ns1.example.test.", "ns2.example.test."}, []string{"NS2.example.test", "ns1.example.test."}
		}), Healthy, -1, nil},

		{"explain: resolves but a listed server is lame", base(dns.RcodeSuccess, func(f *Findings) {
			f.Explain = true
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess), refused("192.0.2.9:53")}
		}), LameDelegation, 22, []string{"192.0.2.9:53"}},

		{"explain: resolves but one server is dead", base(dns.RcodeSuccess, func(f *Findings) {
			f.Explain = true
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess), dead("192.0.2.2:53")}
		}), PartialAuthoritativeOutage, 23, nil},

		{"explain: parent and child NS sets differ", base(dns.RcodeSuccess, func(f *Findings) {
			f.Explain = true
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.ParentNS, f.ChildNS = []string{"ns1.example.test.", "ns2.example.test."}, []string{"ns1.example.test.", "ns3.example.test."}
		}), LameDelegation, 22, []string{"ns2.example.test.", "ns3.example.test."}},
	}
	seen := map[Cause]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Classify(tt.f)
			if r.Cause != tt.cause {
				t.Fatalf("cause = %s, want %s (summary: %s)", r.Cause, tt.cause, r.Summary)
			}
			if r.EDE != tt.ede {
				t.Errorf("EDE = %d, want %d", r.EDE, tt.ede)
			}
			if r.Summary == "" || r.Advice == "" {
				t.Errorf("empty summary or advice: %+v", r)
			}
			for _, m := range tt.mention {
				if !strings.Contains(r.Summary, m) {
					t.Errorf("summary %q does not mention %q", r.Summary, m)
				}
			}
			if again := Classify(tt.f); again != r {
				t.Error("Classify is not a pure function of its findings")
			}
			seen[r.Cause] = true
		})
	}
	for _, c := range Causes {
		if !seen[c] {
			t.Errorf("no test case yields %s", c)
		}
	}
}
