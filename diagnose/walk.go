package diagnose

import (
	"context"
	"net"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// delegation is what the walk found: the closest existing zone of a name,
// the NS names its parent lists, the addresses to ask, and the parent's DS.
type delegation struct {
	zone     string
	parentNS []string
	servers  []nsAddr
	ds       []*dns.DS
	// asked holds what the walk already got from the zone's servers, by
	// address, so they are not asked (and waited for) twice.
	asked map[string]reply
}

// reply is one server's answer to one question.
type reply struct {
	msg *dns.Msg
	ans Answer
}

// nsAddr is one address of one name server.
type nsAddr struct {
	host string
	addr string // IP:port
}

// maxReferrals bounds the walk: no real name is more cuts deep.
const maxReferrals = 16

// walk follows referrals with RD=0 from the root hints towards name, as
// dig +trace does, and stops at the zone whose servers answer for it
// with authority, or that the parent delegates to servers that will not
// (or cannot) answer.
func (p *NetProber) walk(ctx context.Context, a *asker, name string, qtype uint16) delegation {
	d := delegation{zone: "."}
	for _, ip := range p.cfg.RootHints {
		d.servers = append(d.servers, nsAddr{host: "root", addr: p.authAddr(ip)})
	}
	role := "root"
	for range maxReferrals {
		var m *dns.Msg
		m, d.asked = p.askAny(ctx, a, role, d.servers, name, qtype)
		if m == nil || m.Authoritative || m.Rcode != dns.RcodeSuccess {
			return d // the servers of d.zone answered (or could not): d.zone is it
		}
		next, ok := referral(m, d.zone)
		if !ok {
			return d
		}
		next.servers = p.glue(ctx, a, m, next.parentNS)
		d, role = next, "authoritative"
		if len(d.servers) == 0 {
			return d
		}
	}
	return d
}

// askAny asks each server in turn until one answers, and returns that
// answer and every server's reply so far.
func (p *NetProber) askAny(ctx context.Context, a *asker, role string, servers []nsAddr, name string, qtype uint16) (*dns.Msg, map[string]reply) {
	asked := map[string]reply{}
	for _, s := range servers {
		m, ans := a.ask(ctx, role, s.addr, name, qtype, flags{do: true})
		ans.Host = s.host
		asked[s.addr] = reply{m, ans}
		if m != nil {
			return m, asked
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, asked
}

// referral reads a delegation to a zone below from out of m's authority.
func referral(m *dns.Msg, from string) (delegation, bool) {
	var d delegation
	for _, rr := range m.Ns {
		switch r := rr.(type) {
		case *dns.NS:
			if !dns.IsSubDomain(from, r.Hdr.Name) || strings.EqualFold(r.Hdr.Name, from) {
				continue
			}
			d.zone = strings.ToLower(r.Hdr.Name)
			d.parentNS = append(d.parentNS, strings.ToLower(r.Ns))
		case *dns.DS:
			d.ds = append(d.ds, r)
		}
	}
	return d, d.zone != ""
}

// glue finds addresses for the NS names of a referral: the glue in the
// additional section, or else an A lookup through the alternates.
func (p *NetProber) glue(ctx context.Context, a *asker, m *dns.Msg, hosts []string) []nsAddr {
	var out []nsAddr
	for _, h := range hosts {
		found := false
		for _, rr := range m.Extra {
			if ip := addrOf(rr, h); ip != "" {
				out = append(out, nsAddr{host: h, addr: p.authAddr(ip)})
				found = true
			}
		}
		if found || len(p.cfg.Alternates) == 0 {
			continue
		}
		if r, _ := a.ask(ctx, "alternate", p.cfg.Alternates[0], h, dns.TypeA, flags{rd: true}); r != nil {
			for _, rr := range r.Answer {
				if ip := addrOf(rr, h); ip != "" {
					out = append(out, nsAddr{host: h, addr: p.authAddr(ip)})
				}
			}
		}
	}
	return out
}

func addrOf(rr dns.RR, host string) string {
	if !strings.EqualFold(rr.Header().Name, host) {
		return ""
	}
	switch r := rr.(type) {
	case *dns.A:
		return r.A.String()
	case *dns.AAAA:
		return r.AAAA.String()
	}
	return ""
}

func (p *NetProber) authAddr(ip string) string {
	return net.JoinHostPort(ip, strconv.Itoa(p.cfg.AuthPort))
}
