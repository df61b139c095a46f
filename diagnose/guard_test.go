package diagnose

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestGuard: which destinations a probe may go to. Nothing is sent here;
// the addresses are only checked.
func TestGuard(t *testing.T) {
	var deny []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::/128", "fe80::/10", "ff00::/8",
		"::ffff:10.9.0.0/112"} { // an IPv4 network spelled as IPv6
		deny = append(deny, netip.MustParsePrefix(s))
	}
	cfg := ProbeConfig{Deny: deny, AuthPort: 53,
		Upstreams:  []string{"169.254.169.253:53", "127.0.0.1:5300"}, // a cloud's resolver; and nxray itself, by mistake
		Alternates: []string{"[::ffff:169.254.7.7]:53"},
		RootHints:  []string{"169.254.8.8"},
		Self: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:5300"), netip.MustParseAddrPort("[::ffff:127.0.0.2]:5301"),
			netip.MustParseAddrPort("0.0.0.0:5302"), netip.MustParseAddrPort("[::]:5303")},
	}
	g := newGuard(cfg)
	g.local = func() []netip.Addr {
		return []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")}
	}
	for _, tt := range []struct {
		server string
		want   string // a substring of the reason; "" when it may be probed
	}{
		{"192.0.2.1:53", ""},
		{"[2001:db8::1]:53", ""},
		{"127.0.0.1:53", ""}, // loopback is not in the default list: labs and real-software tests live there
		{"[::1]:53", ""},
		{"10.0.0.1:53", ""},
		{"169.254.1.1:53", "169.254.1.1 is in diagnosis.deny_networks (169.254.0.0/16)"},
		{"[::ffff:169.254.1.1]:53", "169.254.1.1 is in diagnosis.deny_networks"},
		{"0.0.0.0:53", "0.0.0.0/8"},
		{"[::]:53", "::/128"},
		{"255.255.255.255:53", "240.0.0.0/4"},
		{"224.0.0.251:5353", "224.0.0.0/4"},
		{"[fe80::1%eth0]:53", "fe80::/10"}, // a zone must not hide it
		{"[ff02::fb]:53", "ff00::/8"},
		{"10.9.1.1:53", "10.9.0.0/16"},
		{"ns1.example.test:53", "not an IP address"},
		// The operator's own: the deny list is for where DNS data leads.
		{"169.254.169.253:53", ""},
		{"169.254.7.7:53", ""},
		{"169.254.8.8:53", ""},
		{"169.254.169.253:54", "deny_networks"}, // the same IP at another port was not named
		// nxray's own listen addresses, only at their port.
		{"127.0.0.1:5300", "127.0.0.1:5300 is nxray's own listen address"}, // though named as an upstream
		{"[::ffff:127.0.0.1]:5300", "own listen address"},
		{"127.0.0.1:5301", ""},
		{"127.0.0.2:5301", "own listen address"},
		{"127.0.0.3:5300", ""},
		// An unspecified listen address is every local address at its port.
		{"127.0.0.5:5302", "this machine's, and nxray listens on 0.0.0.0:5302"},
		{"192.0.2.7:5302", "this machine's"},
		{"[::1]:5302", "this machine's"},
		{"[2001:db8::7]:5303", "this machine's"},
		{"127.0.0.1:5303", "this machine's"},
		{"192.0.2.8:5302", ""},
		{"192.0.2.7:53", ""},
	} {
		got := g.refuse(tt.server)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("refuse(%s) = %q, want %q", tt.server, got, tt.want)
		}
		if got != "" && !strings.HasPrefix(got, "not probed: ") {
			t.Errorf("refuse(%s) = %q: a reason starts with \"not probed: \"", tt.server, got)
		}
	}
	if (*guard)(nil).refuse("169.254.1.1:53") != "" {
		t.Error("a nil guard refuses")
	}
}

// TestAskRefusedSendsNothing: a refused probe takes no budget, is not
// sent, and is shown once however often it is met.
func TestAskRefusedSendsNothing(t *testing.T) {
	taken := 0
	a := &asker{timeout: 1, take: func() bool { taken++; return true },
		guard: newGuard(ProbeConfig{Deny: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}})}
	for range 3 {
		m, ans := a.ask(t.Context(), "authoritative", "169.254.1.1:53", "www.example.test.", dns.TypeA, flags{})
		if m != nil || !ans.NotAsked || !ans.Denied || ans.dead() || !strings.Contains(ans.Err, "deny_networks") {
			t.Fatalf("%+v", ans)
		}
	}
	if ev := a.evidence(); taken != 0 || len(ev) != 1 || !strings.HasPrefix(ev[0].Error, "not probed: ") {
		t.Errorf("%d probes taken; evidence %+v", taken, ev)
	}
}
