package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Zone is the zone the lab resolver answers for.
const Zone = "nxray.test."

// Scenario is one name of the lab and what it shows.
type Scenario struct {
	Name  string // fully qualified
	Type  string // query type to try
	Rcode int    // what the lab resolver answers
	What  string // one line for people
}

// Scenarios lists the lab's names, in the order a demo walks them.
var Scenarios = []Scenario{
	{"www." + Zone, "A", dns.RcodeSuccess, "a healthy name (ask twice: the second answer comes from nxray's cache)"},
	{"missing." + Zone, "A", dns.RcodeNameError, "a name that does not exist: NXDOMAIN, cached by the SOA's negative TTL"},
	{"bogus." + Zone, "A", dns.RcodeServerFailure, "a validating resolver's DNSSEC failure: SERVFAIL with EDE 6"},
	{"blocked." + Zone, "A", dns.RcodeRefused, "a name the resolver refuses by policy: REFUSED"},
}

// Resolver is a lab resolver on a loopback UDP and TCP port.
type Resolver struct {
	addr    string
	servers []*dns.Server
	wg      sync.WaitGroup
}

// StartResolver binds 127.0.0.1 on a free port, UDP and TCP, and serves.
func StartResolver() (*Resolver, error) {
	r := &Resolver{}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("lab resolver: %w", err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("lab resolver: no port free for UDP and TCP: %w", err)
	}
	r.addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	h := dns.HandlerFunc(answer)
	r.servers = []*dns.Server{
		{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }},
		{Listener: ln, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }},
	}
	for _, s := range r.servers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			s.ActivateAndServe()
		}()
	}
	<-started
	<-started
	return r, nil
}

// Addr is the resolver's IP:port.
func (r *Resolver) Addr() string { return r.addr }

// Close stops the resolver and waits for it.
func (r *Resolver) Close() {
	for _, s := range r.servers {
		s.ShutdownContext(context.Background())
	}
	r.wg.Wait()
}

var soa = &dns.SOA{Hdr: dns.RR_Header{Name: Zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
	Ns: "ns1." + Zone, Mbox: "hostmaster." + Zone, Serial: 2026112601, Refresh: 3600, Retry: 600,
	Expire: 86400, Minttl: 60}

func answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(1232, opt.Do())
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	switch {
	case name == "www."+Zone || name == Zone:
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 80)})
		} else {
			m.Ns = append(m.Ns, soa)
		}
	case name == "bogus."+Zone:
		m.Rcode = dns.RcodeServerFailure
		addEDE(m, dns.ExtendedErrorCodeDNSBogus, "lab: RRSIG over bogus.nxray.test A does not verify")
	case name == "blocked."+Zone:
		m.Rcode = dns.RcodeRefused
		addEDE(m, dns.ExtendedErrorCodeProhibited, "lab: refused by policy")
	case dns.IsSubDomain(Zone, name):
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, soa)
	default:
		m.Rcode = dns.RcodeRefused
		addEDE(m, dns.ExtendedErrorCodeNotAuthoritative, "lab: offline; only "+Zone+" exists here")
	}
	w.WriteMsg(m)
}

func addEDE(m *dns.Msg, code uint16, text string) {
	if opt := m.IsEdns0(); opt != nil {
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	}
}
