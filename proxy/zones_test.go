package proxy

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// TestForwardZones: the names at and under a forward zone go to that
// zone's upstreams, the longest zone winning, over UDP and TCP, and every
// other name to the default upstreams; a reload moves them. The upstream
// table names the zone each upstream serves.
func TestForwardZones(t *testing.T) {
	def := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) { answerAs(w, r, 1) })
	corp := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) { answerAs(w, r, 2) })
	lab := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) { answerAs(w, r, 3) })
	zones := []Zone{
		{Zone: "corp.example.", Upstreams: []Upstream{{Net: "udp", Addr: corp.Addr}}},
		{Zone: "lab.corp.example.", Upstreams: []Upstream{{Net: "udp", Addr: lab.Addr}}},
	}
	srv, addr := startProxy(t, func(c *Config) { c.Zones = zones }, def.Addr)
	for name, want := range map[string]int{
		"www.corp.example.": 2, "Corp.Example.": 2, "db.LAB.corp.example.": 3, "lab.corp.example.": 3,
		"notcorp.example.": 1, "example.": 1, "corp.example.org.": 1, `a\.lab.corp.example.`: 2, // one label "a.lab"
	} {
		for _, network := range []string{"udp", "tcp"} {
			if got := len(ask(t, network, addr, question(name, dns.TypeA)).Answer); got != want {
				t.Errorf("%s over %s: answered by the upstream of %d records, want %d", name, network, got, want)
			}
		}
	}
	var table []string
	for _, st := range srv.Upstreams() {
		table = append(table, st.Zone+"="+st.Upstream)
	}
	if got, want := strings.Join(table, " "), "="+def.Addr+" lab.corp.example.="+lab.Addr+" corp.example.="+corp.Addr; got != want {
		t.Errorf("upstream table %q, want %q", got, want)
	}

	cfg := srv.cfg
	cfg.Zones = zones[:1]
	if err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := len(ask(t, "udp", addr, question("other.lab.corp.example.", dns.TypeA)).Answer); got != 2 {
		t.Errorf("after a reload without lab.corp.example., its names went to the upstream of %d records, want corp's 2", got)
	}
}
