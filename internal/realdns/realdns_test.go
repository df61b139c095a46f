package realdns

import (
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startTree starts the tree, or skips where the software is missing;
// in CI (CI set) a missing package fails the test instead.
func startTree(t *testing.T) *Tree {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("real DNS software unavailable in CI: %v", err)
		}
		t.Skipf("real DNS software unavailable: %v", err)
	}
	tr, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func TestTreeAnswersAsBuilt(t *testing.T) {
	tr := startTree(t)
	ask := func(server, name string, cd bool) *dns.Msg {
		t.Helper()
		m := new(dns.Msg).SetQuestion(name, dns.TypeA)
		m.CheckingDisabled = cd
		m.SetEdns0(1232, true)
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, server)
		if err != nil {
			t.Fatalf("%s at %s: %v", name, server, err)
		}
		return r
	}
	v := tr.Resolvers[Validating]
	for _, tt := range []struct {
		server, name string
		cd           bool
		rcode        int
	}{
		{v, "www.ok.test.", false, dns.RcodeSuccess},
		{v, "nothere.ok.test.", false, dns.RcodeNameError},
		{v, "www.dsmismatch.test.", false, dns.RcodeServerFailure},
		{v, "www.dsmismatch.test.", true, dns.RcodeSuccess},
		{v, "www.expired.test.", false, dns.RcodeServerFailure},
		{tr.Resolvers[Nonvalidating], "www.expired.test.", false, dns.RcodeSuccess},
		{v, "www.lame.test.", false, dns.RcodeServerFailure},
		{tr.Resolvers[Filtering], "blocked.ok.test.", false, dns.RcodeNameError},
		{tr.Resolvers[Refusing], "www.ok.test.", false, dns.RcodeRefused},
		{v, "www.notcp.test.", false, dns.RcodeServerFailure},
	} {
		if r := ask(tt.server, tt.name, tt.cd); r.Rcode != tt.rcode {
			t.Errorf("%s (cd=%v) at %s: %s, want %s", tt.name, tt.cd, tt.server, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
	}
	// notcp.test.'s server truncates www over UDP and takes no TCP.
	noTCP := ipNoTCP + ":53"
	if r := ask(noTCP, "www.notcp.test.", false); !r.Truncated || !r.Authoritative {
		t.Errorf("www.notcp.test. over UDP at %s: TC %v AA %v, want both", noTCP, r.Truncated, r.Authoritative)
	}
	m := new(dns.Msg).SetQuestion("www.notcp.test.", dns.TypeA)
	if _, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, noTCP); err == nil {
		t.Errorf("%s answered over TCP", noTCP)
	}
	t.Run("scenarios", func(t *testing.T) { checkScenarios(t, tr) })
}
