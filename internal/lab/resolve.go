package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Bounds of an iterative resolution, the same order as a real resolver's
// but small, so that a test of a dead zone finishes quickly.
const (
	perServerTimeout = 300 * time.Millisecond
	perQueryTimeout  = 2 * time.Second
	maxReferrals     = 12
)

// iterator resolves a question from the root hints down, RD=0 and DO=1 at
// every step, and optionally validates the chain from the trust anchors.
// It keeps no state between resolutions (no cache), so it is safe for
// concurrent use and every answer reflects the zones as they are now.
type iterator struct {
	roots   []string  // "IP:port" of the root servers
	port    string    // port of every server the lab delegates to
	anchors []*dns.DS // DS of the root KSK
	now     func() time.Time
}

// outcome is how a resolution ended: an authoritative answer, or a failure
// a resolver reports as SERVFAIL with the EDE in ede.
type outcome struct {
	msg    *dns.Msg       // final authoritative response; nil on failure
	secure bool           // every step validated (only when validating)
	ede    *dns.EDNS0_EDE // non-nil: the resolution failed
}

func failure(code uint16, format string, args ...any) outcome {
	return outcome{ede: &dns.EDNS0_EDE{InfoCode: code, ExtraText: fmt.Sprintf(format, args...)}}
}

// resolve follows referrals from the root to the answer for qname/qtype.
// With validate set it fetches each zone's DNSKEY set and checks it, every
// DS or insecure-delegation proof, and the final answer or denial.
func (it *iterator) resolve(ctx context.Context, qname string, qtype uint16, validate bool) outcome {
	qname = dns.CanonicalName(qname)
	zone, servers, ds := ".", it.roots, it.anchors
	secure := validate
	for range maxReferrals {
		resp, answered, err := it.ask(ctx, servers, zone, qname, qtype)
		if err != nil {
			return failure(dns.ExtendedErrorCodeNoReachableAuthority, "no authoritative answer for %s from %s: %v", zone, servers, err)
		}
		servers = answered
		var keys []*dns.DNSKEY
		if secure {
			var ede *dns.EDNS0_EDE
			if keys, ede = it.zoneKeys(ctx, zone, servers, ds); ede != nil {
				return outcome{ede: ede}
			}
		}
		child := referralTo(resp, zone, qname)
		if child == "" {
			if secure {
				if ede := it.checkAnswer(resp, qname, qtype, keys); ede != nil {
					return outcome{ede: ede}
				}
			}
			return outcome{msg: resp, secure: secure}
		}
		if secure {
			var ede *dns.EDNS0_EDE
			if ds, secure, ede = it.delegation(resp, child, keys); ede != nil {
				return outcome{ede: ede}
			}
		}
		if servers = it.glue(resp, child); len(servers) == 0 {
			return failure(dns.ExtendedErrorCodeNoReachableAuthority, "no usable glue for %s", child)
		}
		zone = child
	}
	return failure(dns.ExtendedErrorCodeOther, "more than %d referrals for %s", maxReferrals, qname)
}

// ask sends the question to each server in turn until one gives a usable
// answer for zone: authoritative NOERROR/NXDOMAIN, or a referral below zone.
// REFUSED, SERVFAIL, non-authoritative answers and silence move on to the
// next server. The answering server comes first in the returned list so
// follow-up queries (DNSKEY) do not wait on a dead one again.
func (it *iterator) ask(ctx context.Context, servers []string, zone, qname string, qtype uint16) (*dns.Msg, []string, error) {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.RecursionDesired = false
	q.SetEdns0(1232, true)
	var errs []error
	for i, server := range servers {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		resp, err := exchange(ctx, server, q)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
		case resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError:
			errs = append(errs, fmt.Errorf("%s: %s", server, dns.RcodeToString[resp.Rcode]))
		case !resp.Authoritative && referralTo(resp, zone, qname) == "":
			errs = append(errs, fmt.Errorf("%s: not authoritative for %s", server, zone))
		default:
			reordered := append([]string{server}, servers[:i]...)
			return resp, append(reordered, servers[i+1:]...), nil
		}
	}
	return nil, nil, errors.Join(errs...)
}

// errNotLoopback guards the lab's promise never to send off the machine.
var errNotLoopback = errors.New("lab: refusing to send to a non-loopback address")

// exchange sends q to server over UDP, retrying over TCP when truncated,
// within perServerTimeout and ctx.
func exchange(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	ap, err := netip.ParseAddrPort(server)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("%s: %w", server, errNotLoopback)
	}
	ctx, cancel := context.WithTimeout(ctx, perServerTimeout)
	defer cancel()
	resp, err := exchangeOver(ctx, "udp", server, q)
	if err == nil && resp.Truncated {
		resp, err = exchangeOver(ctx, "tcp", server, q)
	}
	return resp, err
}

// exchangeOver is one exchange that also ends when ctx is cancelled, not
// only at its deadline, so Hierarchy.Close need not wait for a dead server.
func exchangeOver(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: perServerTimeout}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	return resp, err
}

// referralTo returns the child zone resp delegates qname to, or "" when
// resp is not a referral from zone.
func referralTo(resp *dns.Msg, zone, qname string) string {
	if resp.Rcode != dns.RcodeSuccess || resp.Authoritative || len(resp.Answer) > 0 {
		return ""
	}
	for _, rr := range resp.Ns {
		owner := dns.CanonicalName(rr.Header().Name)
		if rr.Header().Rrtype == dns.TypeNS && owner != zone &&
			dns.IsSubDomain(zone, owner) && dns.IsSubDomain(owner, qname) {
			return owner
		}
	}
	return ""
}

// glue returns "IP:port" for each name server of child that has loopback
// glue in resp, in the referral's order. Name servers without glue are
// skipped: every lab delegation is in-bailiwick.
func (it *iterator) glue(resp *dns.Msg, child string) []string {
	var out []string
	for _, rr := range resp.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok || dns.CanonicalName(ns.Hdr.Name) != child {
			continue
		}
		for _, extra := range resp.Extra {
			a, ok := extra.(*dns.A)
			if ok && dns.CanonicalName(a.Hdr.Name) == dns.CanonicalName(ns.Ns) && a.A.IsLoopback() {
				out = append(out, net.JoinHostPort(a.A.String(), it.port))
			}
		}
	}
	return out
}
