package realdns

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/wire"
	"github.com/nxray/nxray/proxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// verdictLog signals each diagnosis line.
type verdictLog chan string

func (v verdictLog) Enabled(context.Context, slog.Level) bool { return true }
func (v verdictLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "diagnosis" {
		v <- r.Message
	}
	return nil
}
func (v verdictLog) WithAttrs([]slog.Attr) slog.Handler { return v }
func (v verdictLog) WithGroup(string) slog.Handler      { return v }

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
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: []string{upstream},
		Alternates: []string{tr.Resolvers[Validating], tr.Resolvers[Nonvalidating]},
		RootHints:  tr.RootHints, AuthPort: 53, TrustAnchors: anchors(t, tr), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// diagnoseThrough sends name in at an nxray proxy in front of upstream and
// returns the engine's verdict.
func diagnoseThrough(t *testing.T, tr *Tree, upstream, name string) diagnose.Verdict {
	t.Helper()
	done := make(verdictLog, 4)
	eng, err := diagnose.New(diagnose.Config{Prober: prober(t, tr, upstream), Logger: slog.New(done)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv, err := proxy.New(proxy.Config{Listen: []string{"127.0.0.1:0"}, Upstreams: []proxy.Upstream{{Net: "udp", Addr: upstream}},
		Timeout: 4 * time.Second, Deadline: 5 * time.Second, ACL: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Observer: wire.Observer(eng, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	if _, _, err := (&dns.Client{Timeout: 8 * time.Second}).Exchange(q, srv.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("no diagnosis within 15s")
	}
	v, ok := eng.Lookup(name, dns.TypeA)
	if !ok {
		t.Fatal("no verdict")
	}
	return v
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
				f := diagnose.Failure{Name: tt.name, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Upstream: up}
				fd, ev := prober(t, tr, up).Probe(context.Background(), f, func() bool { return true })
				fd.Name, fd.Qtype, fd.Rcode, fd.Upstream, fd.Explain = f.Name, f.Qtype, f.Rcode, f.Upstream, true
				if r := diagnose.Classify(fd); r.Cause != tt.cause {
					t.Errorf("%s: cause %s, want %s\nsummary: %s\n%s", tt.name, r.Cause, tt.cause, r.Summary, evidenceText(ev))
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
