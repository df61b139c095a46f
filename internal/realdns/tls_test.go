package realdns

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/internal/upstream"
	"github.com/nxray/nxray/proxy"
)

// knotTLS starts Knot Resolver serving DoT and DoH with a leaf of a CA
// made for the test, for kresd.test and its IP; it answers www.tls.test.
// with 192.0.2.80. It returns the server and the CA's PEM file.
func knotTLS(t *testing.T) (*KnotTLS, string) {
	t.Helper()
	if _, err := toolPath("kresd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("kresd unavailable in CI: %v", err)
		}
		t.Skipf("kresd unavailable (apt-get install knot-resolver): %v", err)
	}
	dir := t.TempDir()
	ca := dnstest.NewCA(t)
	caFile, cert, key := ca.WriteFiles(t, dir, "kresd.test", ipKnotTLS)
	k, err := StartKnotTLS(dir, cert, key, map[string]string{"www.tls.test": "192.0.2.80"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k, caFile
}

// nxrayVia starts a proxy configured as nxray serve would be by args
// (flags), with no cache, and returns its address.
func nxrayVia(t *testing.T, args ...string) string {
	t.Helper()
	addr, _ := nxrayMetered(t, args...)
	return addr
}

// nxrayMetered is nxrayVia, with the metrics the proxy records into.
func nxrayMetered(t *testing.T, args ...string) (string, *status.Metrics) {
	t.Helper()
	fs := config.Flags("test")
	if err := fs.Parse(append([]string{"--listen", "127.0.0.1:0"}, args...)); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	var ups []proxy.Upstream
	for _, u := range cfg.Parsed.Upstreams { // as cmd/nxray's wiring does
		ups = append(ups, proxy.Upstream{Net: u.Net, Addr: u.Addr, ServerName: u.ServerName, Path: u.Path, GET: u.GET, TLS: cfg.Parsed.TLS})
	}
	m := status.NewMetrics()
	srv, err := proxy.New(proxy.Config{Listen: []string{"127.0.0.1:0"}, Upstreams: ups, Timeout: 2 * time.Second,
		Deadline: 3 * time.Second, ACL: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Recorder: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv.Addrs()[0].String(), m
}

// failures are m's nxray_upstream_failures_total by reason, all upstreams.
func failures(t *testing.T, m *status.Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "nxray_upstream_failures_total" {
			continue
		}
		for _, c := range mf.GetMetric() {
			for _, l := range c.GetLabel() {
				if l.GetName() == "reason" && c.GetCounter().GetValue() > 0 {
					out[l.GetValue()] += c.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func askA(t *testing.T, addr, name string) *dns.Msg {
	t.Helper()
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTLSUpstreamsWithKnotResolver: nxray forwards over DoT and DoH to a
// real Knot Resolver whose certificate comes from the test's CA; with
// the CA not trusted, or a name the certificate does not carry, the
// client gets SERVFAIL with an EDE saying so, and the failures are counted
// with reason "tls".
func TestTLSUpstreamsWithKnotResolver(t *testing.T) {
	k, caFile := knotTLS(t)
	for _, tt := range []struct {
		name     string
		args     []string
		wantText string // "": answered
	}{
		{"DoT", []string{"--upstream", "tls://" + k.IP + "#kresd.test", "--tls-ca-file", caFile}, ""},
		{"DoT by IP", []string{"--upstream", "tls://" + k.DoT(), "--tls-ca-file", caFile}, ""},
		{"DoH", []string{"--upstream", "https://" + k.IP + "/dns-query#kresd.test", "--tls-ca-file", caFile}, ""},
		{"DoH GET", []string{"--upstream", "https://" + k.IP + "/dns-query{?dns}#kresd.test", "--tls-ca-file", caFile}, ""},
		{"DoT wrong CA", []string{"--upstream", "tls://" + k.IP + "#kresd.test"}, "certificate signed by unknown authority"},
		{"DoH wrong CA", []string{"--upstream", "https://" + k.IP + "/dns-query#kresd.test"}, "certificate signed by unknown authority"},
		{"DoT wrong name", []string{"--upstream", "tls://" + k.IP + "#other.test", "--tls-ca-file", caFile}, "certificate is valid for kresd.test, not other.test"},
		{"DoH wrong name", []string{"--upstream", "https://" + k.IP + "/dns-query#other.test", "--tls-ca-file", caFile}, "not other.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, m := nxrayMetered(t, tt.args...)
			r := askA(t, addr, "www.tls.test.")
			if tt.wantText == "" {
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.80" {
					t.Fatalf("answer %v", r)
				}
				return
			}
			if r.Rcode != dns.RcodeServerFailure {
				t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
			}
			var text string
			if opt := r.IsEdns0(); opt != nil {
				for _, o := range opt.Option {
					if e, ok := o.(*dns.EDNS0_EDE); ok {
						text = e.ExtraText
					}
				}
			}
			if !strings.Contains(text, tt.wantText) {
				t.Errorf("EDE text %q, want %q", text, tt.wantText)
			}
			if f := failures(t, m); f["tls"] == 0 || len(f) != 1 {
				t.Errorf("upstream failures by reason %v, want tls only", f)
			}
		})
	}
}

// TestTLSConnectionReuseWithKnotResolver: a hundred queries in a row
// through nxray take one TLS connection to kresd, over DoT as over DoH, as
// the kernel's socket table shows (a connection per query would leave
// them in TIME_WAIT).
func TestTLSConnectionReuseWithKnotResolver(t *testing.T) {
	k, caFile := knotTLS(t)
	for _, tt := range []struct{ name, up, addr string }{
		{"DoT", "tls://" + k.IP + "#kresd.test", k.DoT()},
		{"DoH", "https://" + k.IP + "/dns-query#kresd.test", k.DoH()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := nxrayVia(t, "--upstream", tt.up, "--tls-ca-file", caFile)
			_, closingBefore := socketsTo(t, tt.addr) // other tests' connections may still be in TIME_WAIT
			for range 100 {
				if r := askA(t, addr, "www.tls.test."); r.Rcode != dns.RcodeSuccess {
					t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
				}
			}
			open, closing := socketsTo(t, tt.addr)
			if open != 1 || closing > closingBefore {
				t.Errorf("%d connections open to %s, %d more closed; want 1 open, none closed", open, tt.addr, closing-closingBefore)
			}
		})
	}
}

// TestTLSUnderLoadWithKnotResolver: two thousand queries in flight at
// once over DoT and over DoH all get answers: none fails for want of room
// on a connection, whatever kresd's per-connection limits.
func TestTLSUnderLoadWithKnotResolver(t *testing.T) {
	k, caFile := knotTLS(t)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	ca := dnstest.CAConfig(t, pem)
	var mismatched atomic.Uint64
	for _, tt := range []struct {
		name string
		tr   upstream.Transport
	}{
		{"DoT", upstream.NewDoT(context.Background(), k.DoT(), "kresd.test", ca, 0, &mismatched)},
		{"DoH", upstream.NewDoH(k.DoH(), "kresd.test", "/dns-query", false, ca, 0, &mismatched)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer tt.tr.Close()
			q, _ := new(dns.Msg).SetQuestion("www.tls.test.", dns.TypeA).Pack()
			var wg sync.WaitGroup
			var failed atomic.Int64
			var first sync.Once
			for range 2000 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := tt.tr.Exchange(context.Background(), q, time.Now().Add(20*time.Second))
					if err == nil && r.Rcode() != dns.RcodeSuccess {
						err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode()])
					}
					if err != nil {
						failed.Add(1)
						first.Do(func() { t.Log(err) })
					}
				}()
			}
			wg.Wait()
			if n := failed.Load(); n > 0 {
				t.Errorf("%d of 2000 queries failed", n)
			}
		})
	}
	if n := mismatched.Load(); n > 0 {
		t.Errorf("%d answers mismatched", n)
	}
}

// socketsTo counts the TCP sockets on this host connected to addr
// (IPv4:port): open (ESTABLISHED), and closing or closed (any other
// state, TIME_WAIT included, which lingers for a minute).
func socketsTo(t *testing.T, addr string) (open, closing int) {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	a4 := ap.Addr().As4()
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", a4[3], a4[2], a4[1], a4[0], ap.Port())
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) <= 3 || fields[2] != want:
		case fields[3] == "01": // TCP_ESTABLISHED
			open++
		default:
			closing++
		}
	}
	return open, closing
}

// TestTLSDiagnosisWithKnotResolver: the diagnosis asks an encrypted
// upstream the way the proxy does; kresd's certificate from a CA nxray
// does not trust makes the verdict upstream_unreachable, naming the
// reason, and with the CA trusted the name is no longer the upstream's
// fault.
func TestTLSDiagnosisWithKnotResolver(t *testing.T) {
	k, caFile := knotTLS(t)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		roots   *tls.Config
		cause   diagnose.Cause
		summary string
	}{
		{"untrusted CA", nil, diagnose.UpstreamUnreachable, "certificate signed by unknown authority"},
		{"trusted CA", dnstest.CAConfig(t, pem), "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := upstream.Upstream{Net: "tls", Addr: k.DoT(), ServerName: "kresd.test", TLS: tt.roots}
			direct := upstream.NewDirect(context.Background(), []upstream.Upstream{up})
			defer direct.Close()
			p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: []string{up.String()}, Exchanger: direct,
				RootHints: []string{"127.0.3.9"}, Timeout: time.Second}) // nothing listens at the root hint
			if err != nil {
				t.Fatal(err)
			}
			v := diagnose.Explain(context.Background(), p, up.String(), 2*time.Second, "www.tls.test.", dns.TypeA, 50)
			if tt.cause != "" && (v.Cause != tt.cause || !strings.Contains(v.Summary, tt.summary)) {
				t.Errorf("%s: %s", v.Cause, v.Summary)
			}
			if tt.cause == "" && (v.Cause == diagnose.UpstreamUnreachable || v.Rcode != "NOERROR") {
				t.Errorf("%s (rcode %s): %s", v.Cause, v.Rcode, v.Summary)
			}
		})
	}
}
