package adapt

import (
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

func TestFailure(t *testing.T) {
	got := Failure(proxy.Failure{Name: "a.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Upstream: "192.0.2.1:53",
		EDE: []dns.EDNS0_EDE{{InfoCode: 6, ExtraText: "no valid signature"}}}, "192.0.2.1:53, 192.0.2.2:53")
	if got.Rcode != dns.RcodeServerFailure || got.Upstream != "192.0.2.1:53" || len(got.EDE) != 1 ||
		got.EDE[0] != (diagnose.EDE{Code: 6, Text: "no valid signature"}) {
		t.Errorf("answered failure: %+v", got)
	}
	got = Failure(proxy.Failure{Name: "a.test.", Rcode: dns.RcodeServerFailure, Err: errors.New("no upstream answered")},
		"192.0.2.1:53, 192.0.2.2:53")
	if got.Rcode != diagnose.NoAnswer || got.Upstream != "192.0.2.1:53, 192.0.2.2:53" {
		t.Errorf("unanswered failure: %+v", got)
	}
}

// TestFailureSOA: the SOA of the negative answer reaches the engine, TTL as
// the client got it; a failure without one has none.
func TestFailureSOA(t *testing.T) {
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 42},
		Ns: "ns.example.test.", Mbox: "root.example.test.", Serial: 2026112601, Refresh: 60, Retry: 60, Expire: 60, Minttl: 300}
	got := Failure(proxy.Failure{Name: "gone.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Upstream: "192.0.2.1:53", SOA: soa}, "192.0.2.1:53")
	want := diagnose.SOA{Zone: "example.test.", Serial: 2026112601, TTL: 42, Minimum: 300}
	if got.SOA == nil || *got.SOA != want {
		t.Errorf("SOA = %+v, want %+v", got.SOA, want)
	}
	if got := Failure(proxy.Failure{Name: "gone.example.test.", Rcode: dns.RcodeNameError}, ""); got.SOA != nil {
		t.Errorf("failure without a SOA: SOA = %+v, want nil", got.SOA)
	}
}

// TestObserverNamesTheZonesUpstreams: a failure no upstream answered names
// the upstreams that serve its name: its forward zone's, the longest zone
// winning, else the default ones; after Set (a reload), the new ones.
func TestObserverNamesTheZonesUpstreams(t *testing.T) {
	o := Observer(nil, "192.0.2.1:53", Zone{"corp.example.", "10.0.0.53:53"}, Zone{"lab.corp.example.", "10.0.1.53:53"})
	for name, want := range map[string]string{"www.Corp.Example.": "10.0.0.53:53", "db.lab.corp.example.": "10.0.1.53:53",
		"example.": "192.0.2.1:53", "xcorp.example.": "192.0.2.1:53"} {
		if got := o.upstreamsOf(name); got != want {
			t.Errorf("upstreams of %s = %q, want %q", name, got, want)
		}
	}
	o.Set("192.0.2.9:53", []Zone{{"lab.corp.example.", "10.0.9.53:53"}})
	for name, want := range map[string]string{"www.corp.example.": "192.0.2.9:53", "db.lab.corp.example.": "10.0.9.53:53"} {
		if got := o.upstreamsOf(name); got != want {
			t.Errorf("after Set: upstreams of %s = %q, want %q", name, got, want)
		}
	}
}
