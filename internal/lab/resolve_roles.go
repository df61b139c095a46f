package lab

import (
	"context"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// Names on which the filtering and stale resolvers differ from the truth.
const (
	blockedName = "blocked.ok.test." // the filtering resolver denies it by policy
	staleName   = "new.ok.test."     // the stale resolver still denies it
	staleZone   = "ok.test."         // ... with this zone's old SOA
)

// recursive is one lab resolver: it answers clients that send RD=1 by
// iterating over the lab, then bends the answer the way its role says.
type recursive struct {
	ctx  context.Context // cancelled by Hierarchy.Close; bounds every resolution
	role string          // one of the Role* constants
	it   *iterator
}

var _ dns.Handler = (*recursive)(nil)

func newRecursive(ctx context.Context, role string, roots []string, anchors []*dns.DS, port int) *recursive {
	return &recursive{ctx: ctx, role: role, it: &iterator{
		roots: roots, anchors: anchors, now: time.Now, port: strconv.Itoa(port),
	}}
}

func (r *recursive) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	opt := req.IsEdns0()
	var e *dns.EDNS0_EDE
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1 || req.Question[0].Qclass != dns.ClassINET:
		m.Rcode = dns.RcodeFormatError
	default:
		e = r.answer(m, req, opt != nil && opt.Do())
	}
	if opt != nil {
		m.SetEdns0(1232, opt.Do())
		if e != nil {
			m.IsEdns0().Option = append(m.IsEdns0().Option, e)
		}
	}
	writeSized(w, req, m)
}

// answer fills m according to the role and returns the EDE to attach, if any.
func (r *recursive) answer(m, req *dns.Msg, do bool) *dns.EDNS0_EDE {
	ctx, cancel := context.WithTimeout(r.ctx, perQueryTimeout)
	defer cancel()
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	switch {
	case r.role == RoleRefusing:
		m.Rcode = dns.RcodeRefused
		return nil
	case r.role == RoleFiltering && name == blockedName:
		m.Rcode = dns.RcodeNameError // policy: no SOA, nothing to say why
		return nil
	case r.role == RoleStale && name == staleName:
		return r.staleDenial(ctx, m)
	}
	validate := r.role == RoleValidating && !req.CheckingDisabled
	out := r.it.resolve(ctx, name, q.Qtype, validate)
	if out.ede != nil {
		m.Rcode = dns.RcodeServerFailure
		return out.ede
	}
	m.Rcode = out.msg.Rcode
	m.Answer = dnssecFilter(out.msg.Answer, q.Qtype, do)
	m.Ns = dnssecFilter(out.msg.Ns, q.Qtype, do)
	m.AuthenticatedData = out.secure && (do || req.AuthenticatedData)
	return nil
}

// staleDenial answers as a resolver that cached NXDOMAIN for staleName
// before the name was added: the zone's SOA with the serial before the
// current one, its TTL half counted down from the negative TTL.
func (r *recursive) staleDenial(ctx context.Context, m *dns.Msg) *dns.EDNS0_EDE {
	out := r.it.resolve(ctx, staleZone, dns.TypeSOA, false)
	if out.ede != nil {
		m.Rcode = dns.RcodeServerFailure
		return out.ede
	}
	for _, rr := range out.msg.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			old := dns.Copy(soa).(*dns.SOA)
			old.Serial--
			old.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl) / 2
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{old}
			return nil
		}
	}
	m.Rcode = dns.RcodeServerFailure
	return ede(dns.ExtendedErrorCodeOther, "no SOA for %s", staleZone)
}

// dnssecFilter drops RRSIG and NSEC records for a client that did not set
// DO, unless it asked for that type, as RFC 4035 section 3.2.1 requires.
func dnssecFilter(rrs []dns.RR, qtype uint16, do bool) []dns.RR {
	if do {
		return rrs
	}
	var out []dns.RR
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if (t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3) && t != qtype {
			continue
		}
		out = append(out, rr)
	}
	return out
}
