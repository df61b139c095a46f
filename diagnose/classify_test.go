package diagnose

import (
	"fmt"
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

		{"upstream refuses with EDE 18 while alternates answer", base(dns.RcodeRefused, func(f *Findings) {
			f.UpstreamEDE = []uint16{dns.ExtendedErrorCodeProhibited}
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeSuccess)}
		}), UpstreamRefused, 18, []string{"192.0.2.53:53", "198.51.100.1:53"}},

		{"refused, alternates answer, control question unanswered: could be either policy", base(dns.RcodeRefused, func(f *Findings) {
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeSuccess)}
		}), Unknown, -1, []string{"REFUSED"}},

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

		{"dangling alias: the target's zone denies it", base(dns.RcodeNameError, func(f *Findings) {
			f.Name, f.Target, f.Zone = "alias.example.test.", "gone.other.test.", "other.test."
			f.Path = []string{"alias.example.test.", "gone.other.test."}
			f.Auth = []Answer{good("192.0.2.7:53", dns.RcodeNameError)}
			f.UpstreamSOA = &SOA{Zone: "other.test.", Serial: 1, TTL: 300, Minimum: 300}
		}), NXDomainConfirmed, 0, []string{"alias.example.test. is an alias of gone.other.test.", "other.test."}},

		{"servers out of step: some have the name, some deny it", base(dns.RcodeNameError, func(f *Findings) {
			a, b := good("192.0.2.1:53", dns.RcodeSuccess), good("192.0.2.2:53", dns.RcodeNameError)
			a.Listed, b.Listed = ListedByParent|ListedByZone, ListedByParent|ListedByZone
			a.Serial, a.HasSerial, b.Serial, b.HasSerial = 5, true, 3, true
			f.Auth = []Answer{a, b}
		}), AuthoritativeInconsistent, 0, []string{"serial 5", "serial 3", "192.0.2.1:53", "192.0.2.2:53"}},

		{"explain: servers publish different serials", base(dns.RcodeSuccess, func(f *Findings) {
			f.Explain = true
			a, b := good("192.0.2.1:53", dns.RcodeSuccess), good("192.0.2.2:53", dns.RcodeSuccess)
			a.Serial, a.HasSerial, b.Serial, b.HasSerial = 5, true, 3, true
			f.Auth = []Answer{a, b}
		}), AuthoritativeInconsistent, 0, []string{"serial 5", "serial 3"}},

		{"the parent lists the old servers; the zone's own NS set names the new", base(dns.RcodeNameError, func(f *Findings) {
			old, cur := good("192.0.2.1:53", dns.RcodeNameError), good("192.0.2.2:53", dns.RcodeSuccess)
			old.Listed, cur.Listed = ListedByParent, ListedByZone
			f.Auth = []Answer{old, cur}
		}), LameDelegation, 22, []string{"ns-192.0.2.2:53", "wrong"}},

		{"refused by policy: the upstream answers other questions", base(dns.RcodeRefused, func(f *Findings) {
			f.UpstreamControl = ControlAnswered
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeSuccess)}
		}), ResolverFiltering, 17, []string{"192.0.2.53:53", "other questions"}},

		{"refused everything, alternates too: still the upstream's refusal", base(dns.RcodeRefused, func(f *Findings) {
			f.UpstreamControl = ControlRefused
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeRefused)}
		}), UpstreamRefused, 18, []string{"192.0.2.53:53", "root's NS"}},

		{"the upstream's own validation fails; the alternates validate", base(dns.RcodeServerFailure, func(f *Findings) {
			f.UpstreamEDE = []uint16{dns.ExtendedErrorCodeDNSBogus}
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeSuccess), alt("198.51.100.1:53", true, dns.RcodeSuccess)}
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.Chain = &Chain{Signed: true}
		}), DNSSECBogus, 6, []string{"own validation", "trust anchor", "192.0.2.53:53"}},

		{"the upstream's clock: expired to it alone", base(dns.RcodeServerFailure, func(f *Findings) {
			f.UpstreamEDE = []uint16{dns.ExtendedErrorCodeSignatureExpired}
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeSuccess)}
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.Chain = &Chain{Signed: true}
		}), DNSSECExpired, 7, []string{"clock"}},

		{"an algorithm nxray cannot check is not bogus", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeNameError)}
			f.Chain = &Chain{Signed: true, Unsupported: true, Detail: "algorithm 16"}
		}), NXDomainConfirmed, 0, nil},

		{"NS names that resolve nowhere", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Unresolved = []string{"ns1.nowhere.test.", "ns2.example.test."}
		}), AuthoritativeUnreachable, 22, []string{"do not resolve", "ns1.nowhere.test."}},

		{"servers not asked are not dead", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Auth = []Answer{dead("192.0.2.1:53"), {Server: "192.0.2.2:53", Rcode: NoAnswer, NotAsked: true, Err: "not asked"}}
		}), AuthoritativeUnreachable, 22, []string{"(192.0.2.1:53) timeout", "Partial evidence: 1 of 2 servers"}},

		{"a cached denial from the parent, from before the zone was delegated", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.ZoneSOA = zoneSOA
			f.UpstreamSOA = &SOA{Zone: "test.", Serial: 9, TTL: 800, Minimum: 900}
		}), StaleNegativeCache, 19, []string{"test.", "800s"}},

		{"filtering said by the upstream's EDE", base(dns.RcodeNameError, func(f *Findings) {
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.ZoneSOA = zoneSOA
			f.UpstreamSOA = &SOA{Zone: "example.test.", Serial: 2026112601, TTL: 10, Minimum: 300}
			f.UpstreamEDE = []uint16{dns.ExtendedErrorCodeBlocked}
		}), ResolverFiltering, 17, []string{"15 (Blocked)"}},

		{"explain: the upstream still fails it, so not healthy", base(dns.RcodeServerFailure, func(f *Findings) {
			f.Explain = true
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
		}), Unknown, -1, []string{"SERVFAIL"}},

		{"explain: resolves at the upstream, fails at an alternate", base(dns.RcodeSuccess, func(f *Findings) {
			f.Explain = true
			f.Auth = []Answer{good("192.0.2.1:53", dns.RcodeSuccess)}
			f.Alternates = []Answer{alt("198.51.100.1:53", false, dns.RcodeServerFailure), alt("198.51.100.1:53", false, dns.RcodeServerFailure)}
		}), Unknown, -1, []string{"198.51.100.1:53 fail"}},

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

// TestSummariesStaySmall: each server is named once, and long lists are
// cut, so a verdict stays small whatever the size of the zone's NS set.
func TestSummariesStaySmall(t *testing.T) {
	f := Findings{Name: "www.big.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Upstream: "192.0.2.53:53", Zone: "big.test."}
	for i := range 400 {
		f.Auth = append(f.Auth, dead(fmt.Sprintf("192.0.2.%d:53", i)))
	}
	r := Classify(f)
	if r.Cause != AuthoritativeUnreachable || !strings.Contains(r.Summary, "and 395 more") || len(r.Summary) > 600 {
		t.Errorf("%s (%d bytes): %s", r.Cause, len(r.Summary), r.Summary)
	}
	f = Findings{Name: "www.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Upstream: "192.0.2.53:53",
		Alternates: []Answer{alt("198.51.100.1:53", false, dns.RcodeServerFailure), alt("198.51.100.1:53", true, dns.RcodeSuccess),
			alt("198.51.100.1:53", false, dns.RcodeServerFailure), alt("198.51.100.1:53", true, dns.RcodeSuccess)}}
	if r := Classify(f); strings.Count(r.Summary, "198.51.100.1:53") != 1 {
		t.Errorf("an alternate asked with CD=0 and CD=1 is named %d times: %s", strings.Count(r.Summary, "198.51.100.1:53"), r.Summary)
	}
}

// TestClassifyNotProbed: a zone whose servers nxray would not probe is
// never healthy and never missing the name on their account.
func TestClassifyNotProbed(t *testing.T) {
	denied := func(server, why string) Answer {
		return Answer{Server: server, Host: "ns-" + server, Rcode: NoAnswer, NotAsked: true, Denied: true, Err: "not probed: " + why}
	}
	linkLocal := denied("169.254.1.1:53", "169.254.1.1 is in diagnosis.deny_networks (169.254.0.0/16)")
	private := denied("10.0.0.1:53", "10.0.0.1 is in diagnosis.deny_networks (10.0.0.0/8)")
	for _, tt := range []struct {
		name    string
		rcode   int
		explain bool
		auth    []Answer
		cause   Cause
		mention []string
	}{
		{"servfail, only link-local servers", dns.RcodeServerFailure, false, []Answer{linkLocal},
			AuthoritativeUnreachable, []string{"no resolver can reach", "link-local", "did not probe", "deny_networks"}},
		{"nxdomain, only link-local servers: not the record's absence", dns.RcodeNameError, false, []Answer{linkLocal},
			AuthoritativeUnreachable, []string{"169.254.1.1:53"}},
		{"servfail, only a network the operator denied: may serve others", dns.RcodeServerFailure, false, []Answer{private},
			Unknown, []string{"did not probe", "10.0.0.0/8"}},
		{"explain, resolves, only link-local servers", dns.RcodeSuccess, true, []Answer{linkLocal},
			Unknown, []string{"cannot check"}},
		{"servfail, one dead, one link-local", dns.RcodeServerFailure, false, []Answer{dead("192.0.2.1:53"), linkLocal},
			AuthoritativeUnreachable, []string{"192.0.2.1:53) timeout", "169.254.1.1:53) not probed"}},
		{"nxdomain from the one live server", dns.RcodeNameError, false, []Answer{good("192.0.2.1:53", dns.RcodeNameError), linkLocal},
			NXDomainConfirmed, []string{"192.0.2.1:53", "169.254.1.1:53) not probed"}},
		{"explain, a live server and a link-local one", dns.RcodeSuccess, true, []Answer{good("192.0.2.1:53", dns.RcodeSuccess), linkLocal},
			LameDelegation, []string{"no resolver can reach", "169.254.1.1:53"}},
		{"explain, a live server and one the operator denied", dns.RcodeSuccess, true, []Answer{good("192.0.2.1:53", dns.RcodeSuccess), private},
			Healthy, []string{"10.0.0.1:53) not probed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := Findings{Name: "www.example.test.", Qtype: dns.TypeA, Rcode: tt.rcode, Upstream: "192.0.2.53:53",
				Zone: "example.test.", Auth: tt.auth, Explain: tt.explain}
			r := Classify(f)
			if r.Cause != tt.cause {
				t.Fatalf("cause %s, want %s: %s", r.Cause, tt.cause, r.Summary)
			}
			for _, m := range tt.mention {
				if !strings.Contains(r.Summary, m) {
					t.Errorf("summary %q does not mention %q", r.Summary, m)
				}
			}
		})
	}
}
