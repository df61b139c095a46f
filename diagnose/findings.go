package diagnose

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// NoAnswer is the Rcode of a probe, or a client query, that got no answer.
const NoAnswer = -1

// Answer is one server's reply to one probe, or its failure to reply.
type Answer struct {
	Server string // IP:port
	Host   string // the server's NS name, for authoritative servers; may be empty
	CD     bool   // the probe set checking disabled
	Rcode  int    // NoAnswer when nothing came back
	Err    string // why nothing came back: "timeout", "connection refused"
	// NotAsked: the probe was never sent, or was given up when the
	// diagnosis ended (probe budget, rate limit, deadline). It says
	// nothing about the server.
	NotAsked bool
	// Denied: not sent because nxray never probes the address
	// (diagnosis.deny_networks, or nxray's own); Err says which.
	// NotAsked is set too.
	Denied bool
	AA     bool
	// Truncated is set when the UDP answer had TC=1; TCPFailed when the
	// retry over TCP then failed.
	Truncated, TCPFailed bool
	Answers              int      // records in the answer section
	EDE                  []uint16 // Extended DNS Error codes in the answer
	SOA                  *SOA     // the SOA of a negative answer, if any
	// For the zone's servers: who lists the server (the parent, the zone's
	// own NS set, or both), and the zone's SOA serial at the server.
	Listed    Listing
	Serial    uint32
	HasSerial bool
}

// Control is the upstream's answer to a question every resolver answers.
type Control uint8

const (
	ControlNotAsked Control = iota // or nothing came back
	ControlAnswered
	ControlRefused
)

// Listing says which NS sets name a server of the zone.
type Listing uint8

const (
	ListedByParent Listing = 1 << iota // the parent's delegation
	ListedByZone                       // the zone's own apex NS set
)

func (a Answer) responded() bool { return a.Rcode != NoAnswer }

// dead says a server was asked and nothing came back.
func (a Answer) dead() bool { return a.Rcode == NoAnswer && !a.NotAsked }

// resolved says the server gave a definite answer about the name.
func (a Answer) resolved() bool {
	return a.Rcode == dns.RcodeSuccess || a.Rcode == dns.RcodeNameError
}

// lame says an authoritative server answered but does not serve the zone.
func (a Answer) lame() bool {
	return a.responded() && (a.Rcode == dns.RcodeRefused || a.Rcode == dns.RcodeServerFailure ||
		(a.resolved() && !a.AA))
}

// SOA is what a negative answer's SOA says.
type SOA struct {
	Zone    string
	Serial  uint32
	TTL     uint32 // as received: a cache counts it down
	Minimum uint32
}

// NegativeTTL is how long a resolver may keep a denial (RFC 2308 section 5).
func (s SOA) NegativeTTL() uint32 { return min(s.TTL, s.Minimum) }

// Chain is what the DNSSEC check of the zone found. The zero value is an
// unsigned zone.
type Chain struct {
	Signed        bool // the parent publishes DS for the zone
	DSMismatch    bool // no DS matches any DNSKEY of the zone
	DNSKEYMissing bool
	RRSIGMissing  bool
	BadSignature  bool
	Expired       bool // a signature is past its expiration
	NotYetValid   bool // a signature's inception is in the future
	// AnchorMismatch: the root's keys match none of nxray's trust anchors.
	AnchorMismatch bool
	// Unsupported: the DS records or signatures use only algorithms or
	// digest types nxray cannot check, so for nxray the zone is insecure
	// (RFC 4035 section 5.2, RFC 6840 section 5.2), never bogus.
	Unsupported bool
	Detail      string
}

func (c *Chain) broken() bool {
	return c != nil && (c.DSMismatch || c.DNSKEYMissing || c.RRSIGMissing || c.BadSignature ||
		c.Expired || c.NotYetValid || c.AnchorMismatch)
}

// Findings is everything the probes learned about one failing name; the
// classifier reads nothing else.
type Findings struct {
	Name     string
	Qtype    uint16
	Rcode    int    // what the client got; NoAnswer when no upstream answered
	Upstream string // the upstream that gave it (or all of them, when none did)
	// UpstreamEDE and UpstreamSOA come from the upstream's own answer.
	UpstreamEDE []uint16
	UpstreamSOA *SOA
	// UpstreamHealthy: the upstreams answered a health question. Read only
	// when Rcode is NoAnswer.
	UpstreamHealthy bool
	// UpstreamReasons say why encrypted upstreams failed the health
	// question ("tls://…: certificate signed by unknown authority").
	UpstreamReasons []string
	// UpstreamControl is what the upstream did with a question every
	// resolver answers (". NS"), asked when it refused the name.
	UpstreamControl Control

	Alternates []Answer // each alternate asked with CD=0 and with CD=1

	// Path is the chain of aliases (CNAME, DNAME) the zones' servers gave,
	// from Name to Target; empty when Name is no alias. Target is the name
	// the findings below are about: where the chain breaks, or its end.
	Path   []string
	Target string

	Zone     string   // the zone of Target; empty when the walk failed
	ParentNS []string // NS names the parent lists for Zone; nil when unknown
	ChildNS  []string // NS names Zone's own apex lists
	// Unresolved are NS names of Zone that have no address: their own
	// zone does not exist, or they have no A or AAAA record.
	Unresolved []string
	Auth       []Answer // the question to every NS address of Zone, RD=0
	ZoneSOA    *SOA     // the SOA the authoritative servers publish now (the highest serial)
	Chain      *Chain   // nil when not checked

	// Private is the private zone of Name, when it is one: only
	// PrivateResolvers (and the servers they named) were asked.
	Private          string
	PrivateResolvers []string

	// Explain is set for nxray explain: the name may not be failing.
	Explain bool
}

// target is the name the findings are about.
func (f *Findings) target() string {
	if f.Target != "" {
		return f.Target
	}
	return f.Name
}

// split sorts the authoritative answers into the servers that serve the
// zone, those that answer but do not (lame), and those that do not answer;
// servers not asked are in none.
func (f *Findings) split() (good, lame, dead []Answer) {
	for _, a := range f.Auth {
		switch {
		case a.NotAsked:
		case !a.responded():
			dead = append(dead, a)
		case a.lame():
			lame = append(lame, a)
		default:
			good = append(good, a)
		}
	}
	return good, lame, dead
}

// denied lists the zone's servers nxray would not probe, and of those the
// ones at addresses no resolver can reach over the network.
func (f *Findings) denied() (denied, unusable []Answer) {
	for _, a := range f.Auth {
		if a.Denied {
			denied = append(denied, a)
			if unreachable(a.Server) != "" {
				unusable = append(unusable, a)
			}
		}
	}
	return denied, unusable
}

// nameExists says what the zone's own servers say of the name: exists,
// does not, or unknown when none of them gave a definite answer.
func (f *Findings) nameExists() (exists, known bool) {
	good, _, _ := f.split()
	for _, a := range good {
		if a.Rcode == dns.RcodeSuccess {
			return true, true
		}
	}
	return false, len(good) > 0
}

// nsMismatch lists NS names that only one side of the zone cut has.
func (f *Findings) nsMismatch() (onlyParent, onlyChild []string) {
	if len(f.ParentNS) == 0 || len(f.ChildNS) == 0 {
		return nil, nil
	}
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, n := range s {
			out[i] = strings.ToLower(dns.Fqdn(n))
		}
		return out
	}
	parent, child := norm(f.ParentNS), norm(f.ChildNS)
	for _, n := range parent {
		if !slices.Contains(child, n) {
			onlyParent = append(onlyParent, n)
		}
	}
	for _, n := range child {
		if !slices.Contains(parent, n) {
			onlyChild = append(onlyChild, n)
		}
	}
	return onlyParent, onlyChild
}

// dnssecSignature says some alternate fails the name when validating and
// answers it with checking disabled: the fingerprint of a DNSSEC failure.
func (f *Findings) dnssecSignature() (validating []string) {
	for _, a := range f.Alternates {
		if !a.CD && a.Rcode == dns.RcodeServerFailure {
			for _, b := range f.Alternates {
				if b.CD && b.Server == a.Server && b.resolved() {
					validating = append(validating, a.Server)
				}
			}
		}
	}
	return dedupe(validating)
}

func hasEDE(codes []uint16, lo, hi uint16) bool {
	return slices.ContainsFunc(codes, func(c uint16) bool { return c >= lo && c <= hi })
}
