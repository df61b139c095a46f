package wire

import (
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

func TestFailure(t *testing.T) {
	got := Failure(proxy.Failure{Name: "a.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Upstream: "192.0.2.1:53",
		EDE: []dns.EDNS0_EDE{{InfoCode: 6}}}, "192.0.2.1:53, 192.0.2.2:53")
	if got.Rcode != dns.RcodeServerFailure || got.Upstream != "192.0.2.1:53" || len(got.EDE) != 1 || got.EDE[0] != 6 {
		t.Errorf("answered failure: %+v", got)
	}
	got = Failure(proxy.Failure{Name: "a.test.", Rcode: dns.RcodeServerFailure, Err: errors.New("no upstream answered")},
		"192.0.2.1:53, 192.0.2.2:53")
	if got.Rcode != diagnose.NoAnswer || got.Upstream != "192.0.2.1:53, 192.0.2.2:53" {
		t.Errorf("unanswered failure: %+v", got)
	}
}
