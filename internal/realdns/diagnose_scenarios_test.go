package realdns

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
)

// verdictWant is what an expert's verdict holds: one of causes, the zone
// where the fault is (when zone is set), and these words.
type verdictWant struct {
	causes     []diagnose.Cause
	zone       string
	summary    []string // substrings of the summary
	advice     []string // substrings of the advice
	notAdvice  []string
	notHealthy bool     // for explain: any cause but healthy
	answered   []string // servers (IP:port) the evidence must show answering
}

func (w verdictWant) check(t *testing.T, v diagnose.Verdict) {
	t.Helper()
	t.Logf("%s: %s (zone %s): %s", v.Name, v.Cause, v.Zone, v.Summary)
	var bad []string
	if len(w.causes) > 0 && !slices.Contains(w.causes, v.Cause) {
		bad = append(bad, fmt.Sprintf("cause %s, want %v", v.Cause, w.causes))
	}
	if w.notHealthy && v.Cause == diagnose.Healthy {
		bad = append(bad, "cause healthy, while the upstream fails it")
	}
	if w.zone != "" && v.Zone != w.zone {
		bad = append(bad, fmt.Sprintf("zone %q, want %q", v.Zone, w.zone))
	}
	for _, s := range w.summary {
		if !strings.Contains(v.Summary, s) {
			bad = append(bad, fmt.Sprintf("summary lacks %q", s))
		}
	}
	for _, s := range w.advice {
		if !strings.Contains(v.Advice, s) {
			bad = append(bad, fmt.Sprintf("advice lacks %q", s))
		}
	}
	for _, s := range w.notAdvice {
		if strings.Contains(v.Advice, s) {
			bad = append(bad, fmt.Sprintf("advice says %q", s))
		}
	}
	for _, srv := range w.answered {
		if !slices.ContainsFunc(v.Evidence, func(e diagnose.Evidence) bool { return e.Server == srv && e.Rcode != "" }) {
			bad = append(bad, fmt.Sprintf("no evidence that %s answered", srv))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: %s\nsummary: %s\nadvice: %s\n%s", v.Name, strings.Join(bad, "; "), v.Summary, v.Advice, evidenceText(v.Evidence))
	}
}

func causes(c ...diagnose.Cause) []diagnose.Cause { return c }

// TestDiagnosisOfHarderScenarios: the verdicts an expert gives on the
// scenarios of scenarios.go, with BIND serving them and Unbound resolving.
func TestDiagnosisOfHarderScenarios(t *testing.T) {
	tr := startTree(t)
	blackHoles(t, manyDeadHoles)
	v := tr.Resolvers[Validating]
	t.Run("all", func(t *testing.T) {
		t.Run("through Unbound", func(t *testing.T) { t.Parallel(); throughUnbound(t, tr) })
		t.Run("failures", func(t *testing.T) { t.Parallel(); straightFailures(t, tr) })
		t.Run("explain", func(t *testing.T) { t.Parallel(); explainScenarios(t, tr) })
		t.Run("grouping", func(t *testing.T) { t.Parallel(); grouping(t, tr) })
	})
	// 11, alone and last: Unbound (an alternate) spends some 25 s on
	// big.test.'s 400 refusing servers, and nothing else should wait on it.
	// An expert: none of the servers asked answers, and the rest were not
	// asked; the verdict says so in a few lines, not 400.
	t.Run("400 NS", func(t *testing.T) {
		got := diagnoseFailure(t, prober(t, tr, v), diagnose.Failure{Name: "www.big.test.", Qtype: dns.TypeA,
			Rcode: dns.RcodeServerFailure, Upstream: v})
		verdictWant{causes: causes(diagnose.AuthoritativeUnreachable, diagnose.Unknown),
			summary: []string{"not asked", "more"}}.check(t, got)
		if b, _ := json.Marshal(got); len(b) >= 8192 {
			t.Errorf("the verdict's JSON is %d bytes, want under 8192", len(b))
		}
		big := map[string]bool{}
		for i := 1; i <= bigNS; i++ {
			big[net.JoinHostPort(bigAddr(i), "53")] = true
		}
		for _, e := range got.Evidence {
			// Nothing listens at big.test.'s addresses: a question sent
			// there is refused at once, so a timeout means not asked.
			if big[e.Server] && strings.Contains(e.Error, "timeout") {
				t.Errorf("evidence says %s timed out; it was not asked: %+v", e.Server, e)
			}
		}
	})
}

// throughUnbound sends each name in at an nxray proxy in front of the
// validating Unbound.
func throughUnbound(t *testing.T, tr *Tree) {
	for _, tt := range []struct {
		what, name string
		want       verdictWant
	}{
		// 1: the alias exists; its target, in ok.test., does not. The
		// fault (if any) is the missing nothere.ok.test.
		{"dangling CNAME", "alias.cname.test.", verdictWant{causes: causes(diagnose.NXDomainConfirmed),
			zone: "ok.test.", summary: []string{"nothere.ok.test."}}},
		// 2: cname.test. is fine; the servers of the target's zone are
		// dead.
		{"CNAME to dead zone", "todead.cname.test.", verdictWant{causes: causes(diagnose.AuthoritativeUnreachable),
			zone: "dead.test.", summary: []string{"dead.test."}}},
		// 3: cname.test. validates; the target's zone has a DS matching no
		// key.
		{"CNAME to bogus zone", "tobogus.cname.test.", verdictWant{causes: causes(diagnose.DNSSECBogus),
			zone: "dsmismatch.test."}},
		// 4: the DNAME maps the name into ok.test., where it does not
		// exist.
		{"DNAME", "nothere.old.dname.test.", verdictWant{causes: causes(diagnose.NXDomainConfirmed), zone: "ok.test."}},
		// 6: no server of nsgone.test. can be reached because none of its
		// NS names has an address: nowhere.test. does not exist, and
		// ns2.hoster.test. has no A or AAAA.
		{"NS names resolve nowhere", "www.nsgone.test.", verdictWant{causes: causes(diagnose.AuthoritativeUnreachable),
			summary: []string{"do not resolve"}}},
		// 10: algo.test. is signed with ED448, which nxray cannot verify
		// (Unbound can, and does): what nxray cannot check is not broken,
		// and the denial stands.
		{"ED448 NXDOMAIN", "nothere.algo.test.", verdictWant{causes: causes(diagnose.NXDomainConfirmed), zone: "algo.test."}},
		// 14: one server serves parentz.test. and kid.parentz.test.; the
		// name is missing from the child, whose SOA the denial carries.
		{"parent and child on one server", "nothere.kid.parentz.test.", verdictWant{
			causes: causes(diagnose.NXDomainConfirmed), zone: "kid.parentz.test."}},
	} {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			tt.want.check(t, diagnoseThrough(t, tr, tr.Resolvers[Validating], tt.name))
		})
	}
}

// serialRE matches a serial as a number of its own (not inside an
// address such as 127.0.1.45).
func serialRE(n int) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(^|[^0-9.])%d([^0-9]|$)`, n))
}

// straightFailures hands failures straight to an engine, for scenarios an
// upstream would not give the same way twice.
func straightFailures(t *testing.T, tr *Tree) {
	v := tr.Resolvers[Validating]
	t.Run("NS without glue", func(t *testing.T) {
		t.Parallel()
		// 5: no resolver to lean on (no alternates, the upstream gone):
		// nxray must find ns.hoster.test.'s address by its own walk from
		// the root. The zone's server says NXDOMAIN.
		dead := net.JoinHostPort(ipDead, "53")
		got := diagnoseFailure(t, proberWith(t, tr, []string{dead}, nil, time.Second), diagnose.Failure{
			Name: "nothere.noglue.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Upstream: dead})
		verdictWant{causes: causes(diagnose.NXDomainConfirmed), zone: "noglue.test.",
			answered: []string{net.JoinHostPort(ipNoGlue, "53")}}.check(t, got)
	})
	t.Run("servers disagree", func(t *testing.T) {
		t.Parallel()
		// 8: ns1 has new (serial 5), ns2 an old copy without it (serial
		// 3): a secondary that stopped taking transfers. Whether a
		// resolver says NXDOMAIN depends on which server it asked.
		got := diagnoseFailure(t, prober(t, tr, v), diagnose.Failure{Name: "new.split.test.", Qtype: dns.TypeA,
			Rcode: dns.RcodeNameError, Upstream: v})
		verdictWant{causes: causes(diagnose.AuthoritativeInconsistent)}.check(t, got)
		for _, n := range []int{5, 3} {
			if !serialRE(n).MatchString(got.Summary) {
				t.Errorf("summary does not name serial %d: %s", n, got.Summary)
			}
		}
		for _, s := range [][2]string{{"ns1.split.test", ipSplit1}, {"ns2.split.test", ipSplit2}} {
			if !strings.Contains(got.Summary, s[0]) && !strings.Contains(got.Summary, s[1]) {
				t.Errorf("summary does not name %s (%s): %s", s[0], s[1], got.Summary)
			}
		}
	})
	t.Run("moved, registrar not updated", func(t *testing.T) {
		t.Parallel()
		// 9: test. still delegates to the old provider, which says
		// NXDOMAIN with authority from an old copy, while that copy's own
		// NS set names the new provider, which has www. The name exists;
		// the fix is the NS records at the registrar, not the zone.
		got := diagnoseFailure(t, prober(t, tr, v), diagnose.Failure{Name: "www.moved.test.", Qtype: dns.TypeA,
			Rcode: dns.RcodeNameError, Upstream: v})
		verdictWant{causes: causes(diagnose.LameDelegation, diagnose.AuthoritativeInconsistent),
			summary: []string{"ns1.newhost.test"}, advice: []string{"registrar"}, notAdvice: []string{"Add the record"}}.check(t, got)
	})
}

// explainScenarios checks names as nxray explain does.
func explainScenarios(t *testing.T, tr *Tree) {
	v, filtering := tr.Resolvers[Validating], tr.Resolvers[Filtering]
	for _, tt := range []struct {
		what, name, upstream string
		p                    *diagnose.NetProber
		want                 verdictWant
	}{
		// 5: resolves, with the server's address found by nxray's own walk
		// (no alternates): healthy, and said so having asked the server.
		{"NS without glue", "www.noglue.test.", v, proberWith(t, tr, []string{v}, nil, time.Second),
			verdictWant{causes: causes(diagnose.Healthy), answered: []string{net.JoinHostPort(ipNoGlue, "53")}}},
		// 10: resolves and validates (Unbound checks ED448; nxray cannot,
		// which is no fault of the zone).
		{"ED448", "www.algo.test.", v, prober(t, tr, v), verdictWant{causes: causes(diagnose.Healthy),
			answered: []string{net.JoinHostPort(ipAlgo, "53")}}},
		// 13: the filtering Unbound says NXDOMAIN for a name that exists:
		// an expert says resolver_filtering, and never healthy.
		{"filtered", "blocked.ok.test.", filtering, prober(t, tr, filtering), verdictWant{notHealthy: true}},
		// 14: one server answers for the parent and the child; the
		// child's NS set (ns1.kid.parentz.test.) is not to be compared
		// with the parent zone's own (ns1.parentz.test.).
		{"parent and child on one server", "www.kid.parentz.test.", v, prober(t, tr, v),
			verdictWant{causes: causes(diagnose.Healthy), answered: []string{net.JoinHostPort(ipParentz, "53")}}},
	} {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			tt.want.check(t, explain(context.Background(), tt.p, tt.upstream, tt.name))
		})
	}
	t.Run("eleven of twelve servers silent", func(t *testing.T) {
		t.Parallel()
		// 7: the name resolves (the resolver found ns12), but eleven of
		// the zone's twelve servers never answer: resolvers that pick them
		// wait and retry. The live server, listed last, must be asked
		// before a 6 s deadline runs out on 1 s probe timeouts.
		resolved{"www.manydead.test.", false, dns.RcodeSuccess, false}.check(t, v) // the upstream knows ns12 now
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		defer cancel()
		start := time.Now()
		got := explain(ctx, proberWith(t, tr, []string{v}, []string{v, tr.Resolvers[Nonvalidating]}, time.Second), v,
			"www.manydead.test.")
		verdictWant{causes: causes(diagnose.PartialAuthoritativeOutage)}.check(t, got)
		if ctx.Err() != nil {
			t.Logf("the deadline ran out (%s)", time.Since(start).Round(time.Millisecond))
		}
	})
}

// grouping: one engine and proxy see two names in turn; a verdict is
// shared only when its cause is a property of the zone.
func grouping(t *testing.T, tr *Tree) {
	t.Run("filtering is per name", func(t *testing.T) {
		t.Parallel()
		// 12: nothere.ok.test. does not exist; blocked.ok.test. does, and
		// only the filtering resolver denies it. The first verdict says
		// nothing about the second.
		s := newSession(t, tr, tr.Resolvers[Filtering])
		first := s.diagnose("nothere.ok.test.")
		verdictWant{causes: causes(diagnose.NXDomainConfirmed)}.check(t, first)
		second := s.diagnose("blocked.ok.test.")
		verdictWant{causes: causes(diagnose.ResolverFiltering)}.check(t, second)
		if second.ID == first.ID {
			t.Errorf("blocked.ok.test. was grouped onto the verdict of nothere.ok.test. (%s)", first.ID)
		}
	})
	t.Run("lame is per zone", func(t *testing.T) {
		t.Parallel()
		// 12: lame.test.'s server does not serve it: every name in it
		// fails for that one reason, so the second name is counted onto
		// the first's verdict.
		s := newSession(t, tr, tr.Resolvers[Validating])
		first := s.diagnose("www.lame.test.")
		verdictWant{causes: causes(diagnose.LameDelegation)}.check(t, first)
		second := s.diagnose("other.lame.test.")
		if second.ID != first.ID || second.Grouped != 1 {
			t.Errorf("other.lame.test.: verdict %s (grouped %d, cause %s), want %s grouped 1",
				second.ID, second.Grouped, second.Cause, first.ID)
		}
	})
}
