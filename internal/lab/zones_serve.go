package lab

import (
	"net"

	"github.com/miekg/dns"
)

// authServer answers as an authoritative name server for its zones: AA on
// its own data, referrals with glue at zone cuts, NSEC denials and RRSIGs
// when the query has DO=1, REFUSED for names it does not serve. With no
// zones at all it is a lame server: REFUSED for everything.
type authServer struct {
	zones []*zone // read-only after StartHierarchy
}

var _ dns.Handler = (*authServer)(nil)

func (a *authServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1 || req.Question[0].Qclass != dns.ClassINET:
		m.Rcode = dns.RcodeFormatError
	default:
		a.answer(m, req.Question[0], do)
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(1232, do)
	}
	writeSized(w, req, m)
}

// answer fills m for q from the closest enclosing zone this server holds.
func (a *authServer) answer(m *dns.Msg, q dns.Question, do bool) {
	name := dns.CanonicalName(q.Name)
	z := a.zoneFor(name, q.Qtype)
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return
	}
	if cut := z.cutAbove(name); cut != "" && !(cut == name && q.Qtype == dns.TypeDS) {
		referral(m, z, cut, do)
		return
	}
	m.Authoritative = true
	if !z.exists(name) {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, negativeSOA(z, do)...)
		if do {
			addNSEC(m, z, z.covering(name))
			addNSEC(m, z, z.covering(wildcardOf(z.closestEncloser(name))))
		}
		return
	}
	if rrset := z.withSigs(name, q.Qtype, do); len(rrset) > 0 {
		m.Answer = rrset
		return
	}
	m.Ns = append(m.Ns, negativeSOA(z, do)...) // NODATA
	if do {
		if _, ok := z.rrs[name][dns.TypeNSEC]; ok {
			m.Ns = append(m.Ns, z.withSigs(name, dns.TypeNSEC, true)...)
		} else {
			addNSEC(m, z, z.covering(name)) // empty non-terminal
		}
	}
}

// zoneFor picks the deepest zone holding name. A DS query belongs to the
// parent side of a cut, so it skips a zone whose apex is the name itself.
func (a *authServer) zoneFor(name string, qtype uint16) *zone {
	var best *zone
	for _, z := range a.zones {
		if !dns.IsSubDomain(z.origin, name) || (qtype == dns.TypeDS && z.origin == name && name != ".") {
			continue
		}
		if best == nil || dns.CountLabel(z.origin) > dns.CountLabel(best.origin) {
			best = z
		}
	}
	return best
}

// referral points at the child zone at cut: its NS set, DS or the NSEC that
// proves there is none (DO=1), and glue for in-bailiwick name servers.
func referral(m *dns.Msg, z *zone, cut string, do bool) {
	m.Ns = append(m.Ns, z.rrs[cut][dns.TypeNS]...)
	if do {
		if ds := z.withSigs(cut, dns.TypeDS, true); len(ds) > 0 {
			m.Ns = append(m.Ns, ds...)
		} else {
			m.Ns = append(m.Ns, z.withSigs(cut, dns.TypeNSEC, true)...)
		}
	}
	for _, rr := range z.rrs[cut][dns.TypeNS] {
		host := dns.CanonicalName(rr.(*dns.NS).Ns)
		m.Extra = append(m.Extra, z.rrs[host][dns.TypeA]...)
	}
}

// negativeSOA is the zone's SOA with the RFC 2308 negative TTL.
func negativeSOA(z *zone, do bool) []dns.RR {
	soa := dns.Copy(z.soa)
	soa.Header().Ttl = z.negTTL()
	out := []dns.RR{soa}
	if do {
		out = append(out, z.sigs[z.origin][dns.TypeSOA]...)
	}
	return out
}

// addNSEC appends n and its signatures once (the proofs for a name and for
// its wildcard are often the same record).
func addNSEC(m *dns.Msg, z *zone, n *dns.NSEC) {
	if n == nil {
		return
	}
	for _, rr := range m.Ns {
		if rr == dns.RR(n) {
			return
		}
	}
	owner := dns.CanonicalName(n.Hdr.Name)
	m.Ns = append(m.Ns, n)
	m.Ns = append(m.Ns, z.sigs[owner][dns.TypeNSEC]...)
}

// writeSized truncates a UDP answer to the client's advertised size (512
// without EDNS0) so that TC=1 and the retry over TCP behave as on the wire.
func writeSized(w dns.ResponseWriter, req, m *dns.Msg) {
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// wildcardOf is the wildcard name directly below encloser.
func wildcardOf(encloser string) string {
	if encloser == "." {
		return "*."
	}
	return "*." + encloser
}
