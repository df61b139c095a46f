package realdns

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/proxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func anchors(t *testing.T, tr *Tree) []*dns.DS {
	t.Helper()
	f, err := os.Open(tr.AnchorsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*dns.DS
	zp := dns.NewZoneParser(f, ".", tr.AnchorsFile)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if ds, ok := rr.(*dns.DS); ok {
			out = append(out, ds)
		}
	}
	return out
}

func prober(t *testing.T, tr *Tree, upstream string) *diagnose.NetProber {
	t.Helper()
	return proberWith(t, tr, []string{upstream}, []string{tr.Resolvers[Validating], tr.Resolvers[Nonvalidating]}, time.Second)
}

// proberWith is a prober with these upstreams and alternates, and this
// timeout for one probe.
func proberWith(t *testing.T, tr *Tree, upstreams, alternates []string, timeout time.Duration) *diagnose.NetProber {
	t.Helper()
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: upstreams, Alternates: alternates,
		RootHints: tr.RootHints, AuthPort: 53, TrustAnchors: anchors(t, tr), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// diagnoseThrough sends name in at an nxray proxy in front of upstream and
// returns the engine's verdict.
func diagnoseThrough(t *testing.T, tr *Tree, upstream, name string) diagnose.Verdict {
	t.Helper()
	return newSession(t, tr, upstream).diagnose(name)
}

// session is an engine and a proxy in front of one upstream, as nxray
// serve runs them, for several names in turn.
type session struct {
	t    *testing.T
	eng  *diagnose.Engine
	addr string       // the proxy's
	done *dnstest.Log // the engine's log: a diagnosis line per verdict
}

// newSession starts an engine and a proxy, stopped at t's cleanup.
func newSession(t *testing.T, tr *Tree, upstream string) *session {
	t.Helper()
	done := dnstest.NewLog()
	eng, err := diagnose.New(diagnose.Config{Prober: prober(t, tr, upstream), Logger: done.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	srv, err := proxy.New(proxy.Config{Listen: []string{"127.0.0.1:0"}, Upstreams: []proxy.Upstream{{Net: "udp", Addr: upstream}},
		Timeout: 4 * time.Second, Deadline: 5 * time.Second, ACL: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Observer: adapt.Observer(eng, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &session{t: t, eng: eng, addr: srv.Addrs()[0].String(), done: done}
}

// diagnose asks the proxy for name and returns the verdict that explains
// its failure: its own, once the engine logs it, or the verdict of its
// zone when the engine grouped it there. The proxy reports a failure
// before it answers, so the engine's counters tell which at once.
func (s *session) diagnose(name string) diagnose.Verdict {
	s.t.Helper()
	before := s.eng.Stats()
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	if _, _, err := (&dns.Client{Timeout: 8 * time.Second}).Exchange(q, s.addr); err != nil {
		s.t.Fatal(err)
	}
	if st := s.eng.Stats(); st.Grouped > before.Grouped || st.Deduplicated > before.Deduplicated {
		return s.grouped(name)
	}
	s.done.WaitWithin(s.t, "diagnosis", 15*time.Second)
	v, ok := s.eng.Lookup(name, dns.TypeA)
	if !ok {
		s.t.Fatalf("no verdict for %s", name)
	}
	return v
}

// grouped finds the verdict a failure of name was counted onto.
func (s *session) grouped(name string) diagnose.Verdict {
	s.t.Helper()
	if v, ok := s.eng.Lookup(name, dns.TypeA); ok {
		return v
	}
	for _, v := range s.eng.Verdicts() {
		for _, n := range v.GroupedNames {
			if strings.EqualFold(n, name) {
				return v
			}
		}
	}
	s.t.Fatalf("%s was grouped, but no verdict names it", name)
	return diagnose.Verdict{}
}

// diagnoseFailure hands f straight to an engine with prober p and its
// default bounds, and returns the verdict.
func diagnoseFailure(t *testing.T, p diagnose.Prober, f diagnose.Failure) diagnose.Verdict {
	t.Helper()
	done := dnstest.NewLog()
	eng, err := diagnose.New(diagnose.Config{Prober: p, Logger: done.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	eng.Observe(f)
	done.WaitWithin(t, "diagnosis", 15*time.Second)
	v, ok := eng.Lookup(f.Name, f.Qtype)
	if !ok {
		t.Fatalf("no verdict for %s", f.Name)
	}
	return v
}

// explainBudget is nxray explain's probe budget (cmd/nxray/explain.go).
const explainBudget = 200

// explain does what nxray explain does, with a 2 s timeout for the
// upstream's answer.
func explain(ctx context.Context, p diagnose.Prober, up, name string) diagnose.Verdict {
	return diagnose.Explain(ctx, p, up, 2*time.Second, name, dns.TypeA, explainBudget)
}

func evidenceText(ev []diagnose.Evidence) string {
	var b strings.Builder
	for _, e := range ev {
		b.WriteString(e.Server + " " + e.Role + " " + e.Query + " " + e.Rcode + " " + e.Error + "\n")
	}
	return b.String()
}

// TestDiagnosisAgainstBINDAndUnbound: every scenario of the real tree gets
// its cause, with BIND serving the zones and Unbound resolving them.
func TestDiagnosisAgainstBINDAndUnbound(t *testing.T) {
	tr := startTree(t)
	for _, tt := range []struct {
		name     string
		resolver string // a role, or "dead" for an upstream where nothing listens
		cause    diagnose.Cause
	}{
		{"nothere.ok.test.", Validating, diagnose.NXDomainConfirmed},
		{"www.dsmismatch.test.", Validating, diagnose.DNSSECBogus},
		{"www.expired.test.", Validating, diagnose.DNSSECExpired},
		{"www.lame.test.", Validating, diagnose.LameDelegation},
		{"www.dead.test.", Validating, diagnose.AuthoritativeUnreachable},
		{"www.notcp.test.", Validating, diagnose.TruncatedNoTCP},
		{"blocked.ok.test.", Filtering, diagnose.ResolverFiltering},
		{"www.ok.test.", Refusing, diagnose.UpstreamRefused},
		{"www.ok.test.", "dead", diagnose.UpstreamUnreachable},
	} {
		t.Run(string(tt.cause), func(t *testing.T) {
			up := tr.Resolvers[tt.resolver]
			if tt.resolver == "dead" {
				up = ipDead + ":53"
			}
			v := diagnoseThrough(t, tr, up, tt.name)
			if v.Cause != tt.cause {
				t.Errorf("cause %s, want %s\nsummary: %s\n%s", v.Cause, tt.cause, v.Summary, evidenceText(v.Evidence))
			}
		})
	}
	t.Run("explain", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			cause diagnose.Cause
		}{
			{"www.partial.test.", diagnose.PartialAuthoritativeOutage},
			{"www.nsmismatch.test.", diagnose.LameDelegation},
			{"www.ok.test.", diagnose.Healthy},
		} {
			t.Run(string(tt.cause), func(t *testing.T) {
				up := tr.Resolvers[Validating]
				if v := explain(context.Background(), prober(t, tr, up), up, tt.name); v.Cause != tt.cause {
					t.Errorf("%s: cause %s, want %s\nsummary: %s\n%s", tt.name, v.Cause, tt.cause, v.Summary, evidenceText(v.Evidence))
				}
			})
		}
	})
	// Last, as it changes the tree: a record added after Unbound cached
	// the name's NXDOMAIN.
	t.Run(string(diagnose.StaleNegativeCache), func(t *testing.T) {
		m := new(dns.Msg).SetQuestion("new.ok.test.", dns.TypeA)
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, tr.Resolvers[Validating])
		if err != nil || r.Rcode != dns.RcodeNameError {
			t.Fatalf("priming Unbound's cache: %v %v", r, err)
		}
		if err := tr.AddToOK("new A 192.0.2.2"); err != nil {
			t.Fatal(err)
		}
		v := diagnoseThrough(t, tr, tr.Resolvers[Validating], "new.ok.test.")
		if v.Cause != diagnose.StaleNegativeCache {
			t.Errorf("cause %s, want %s\nsummary: %s\n%s", v.Cause, diagnose.StaleNegativeCache, v.Summary, evidenceText(v.Evidence))
		}
	})
}
