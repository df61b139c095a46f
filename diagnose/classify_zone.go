package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// negativeAnswer explains an NXDOMAIN by what the zone's own servers say
// of the name (the end of its aliases).
func negativeAnswer(f *Findings) (Result, bool) {
	if f.Rcode != dns.RcodeNameError {
		return Result{}, false
	}
	good, _, _ := f.split()
	var have, lack []Answer
	for _, a := range good {
		switch a.Rcode {
		case dns.RcodeSuccess:
			have = append(have, a)
		case dns.RcodeNameError:
			lack = append(lack, a)
		}
	}
	switch {
	case len(have) == 0 && len(lack) == 0:
		return Result{}, false // the servers' own trouble explains more
	case len(have) == 0:
		return confirmed(f, lack), true
	case len(lack) > 0:
		return disagree(f, have, lack), true
	}
	return deniedByResolver(f), true
}

func confirmed(f *Findings, lack []Answer) Result {
	name, zone := f.target(), zoneOr(f)
	subject := name + " does not exist"
	advice := fmt.Sprintf("Add the record to the zone %s, or fix the name asked for (a typo, a wrong subdomain).", zone)
	if len(f.Path) > 1 {
		subject = fmt.Sprintf("%s is an alias of %s, which does not exist", f.Name, name)
		advice = fmt.Sprintf("Add %s to the zone %s, or point the alias %s at a name that exists.", name, zone, f.Path[len(f.Path)-2])
	}
	agree := ""
	var differ []string
	for _, a := range f.Alternates {
		switch {
		case !a.CD && a.Rcode == dns.RcodeSuccess:
			differ = append(differ, a.Server)
		case !a.CD && a.Rcode == dns.RcodeNameError:
			agree = ", and the resolvers agree"
		}
	}
	if len(differ) > 0 {
		agree = fmt.Sprintf(" (%s still answer it, from a cache)", list(dedupe(differ)))
	}
	return Result{Cause: NXDomainConfirmed,
		Summary: fmt.Sprintf("%s: the servers of %s (%s) say NXDOMAIN%s.", subject, zone, servers(lack), agree) + partial(f),
		Advice:  advice,
	}
}

// disagree is a name some servers of the zone have and others deny: a
// parent that lists the wrong servers, or servers out of step.
func disagree(f *Findings, have, lack []Answer) Result {
	name, zone := f.target(), zoneOr(f)
	parentLacks := slices.ContainsFunc(lack, func(a Answer) bool { return a.Listed&ListedByParent != 0 }) &&
		!slices.ContainsFunc(have, func(a Answer) bool { return a.Listed&ListedByParent != 0 })
	if parentLacks {
		return Result{Cause: LameDelegation,
			Summary: fmt.Sprintf("The parent of %s delegates it to %s, which say %s does not exist, while %s, named by the zone's "+
				"own NS set, have it: the parent lists the wrong (old) servers.", zone, servers(lack), name, servers(have)),
			Advice: fmt.Sprintf("Fix the NS records of %s at the registrar (the parent zone) to the servers that serve the "+
				"current zone (%s), or bring the old servers' copy up to date; the record itself exists.", zone, hosts(have)),
		}
	}
	return Result{Cause: AuthoritativeInconsistent,
		Summary: fmt.Sprintf("The servers of %s disagree about %s: %s have it, %s say NXDOMAIN%s; "+
			"resolvers that ask the latter fail.", zone, name, withSerials(have), withSerials(lack), serialsNote(f)),
		Advice: fmt.Sprintf("Bring %s up to date with the primary of %s (zone transfers: NOTIFY, allow-transfer, the serial), "+
			"or take them out of the NS set until they are.", hosts(lack), zone),
	}
}

// deniedByResolver explains an NXDOMAIN for a name every server of its zone
// has: a cached denial, told by its SOA, or the resolver's own answer.
func deniedByResolver(f *Findings) Result {
	name, zone := f.target(), zoneOr(f)
	soa := f.UpstreamSOA
	filtered := hasEDE(f.UpstreamEDE, dns.ExtendedErrorCodeBlocked, dns.ExtendedErrorCodeFiltered)
	if !filtered && soa != nil && strings.EqualFold(dns.Fqdn(soa.Zone), zone) && f.ZoneSOA != nil &&
		(serialAfter(f.ZoneSOA.Serial, soa.Serial) || soa.TTL < f.ZoneSOA.NegativeTTL()) {
		return Result{Cause: StaleNegativeCache,
			Summary: fmt.Sprintf("%s now exists at the servers of %s (serial %d), but %s still has the NXDOMAIN it cached "+
				"(serial %d); it expires within %ds.", name, zone, f.ZoneSOA.Serial, f.Upstream, soa.Serial, soa.TTL),
			Advice: fmt.Sprintf("Wait %ds, or flush the name from %s's cache; lower the SOA minimum of %s to shorten this next time.",
				soa.TTL, f.Upstream, zone),
		}
	}
	if !filtered && soa != nil && dns.IsSubDomain(dns.Fqdn(soa.Zone), zone) && !strings.EqualFold(dns.Fqdn(soa.Zone), zone) {
		return Result{Cause: StaleNegativeCache,
			Summary: fmt.Sprintf("%s exists at the servers of %s, but %s still has the NXDOMAIN it cached from %s "+
				"(serial %d), from before %s was delegated; it expires within %ds.", name, zone, f.Upstream, soa.Zone, soa.Serial, zone, soa.TTL),
			Advice: fmt.Sprintf("Wait %ds, or flush %s from %s's cache; lower the SOA minimum of %s to shorten this next time.",
				soa.TTL, zone, f.Upstream, soa.Zone),
		}
	}
	why := "with no SOA"
	switch {
	case filtered:
		why = "with an Extended DNS Error that says it filtered it (" + codes(f.UpstreamEDE) + ")"
	case soa != nil && strings.EqualFold(dns.Fqdn(soa.Zone), zone):
		why = fmt.Sprintf("with the zone's SOA (serial %d), as if from another view of the zone", soa.Serial)
	case soa != nil:
		why = "with a SOA for " + soa.Zone + ", not the zone's own"
	}
	return Result{Cause: ResolverFiltering,
		Summary: fmt.Sprintf("%s exists at the servers of %s (%s), but %s says NXDOMAIN %s: the resolver made that answer up.",
			name, zone, hostList(f.Auth), f.Upstream, why),
		Advice: fmt.Sprintf("Look at %s's blocklist, policy (RPZ) or split-horizon views; the zone itself is fine.", f.Upstream),
	}
}

// authoritative looks at the zone's servers: none with an address, all
// silent, some lame, out of step, or silent.
func authoritative(f *Findings) (Result, bool) {
	good, lame, dead := f.split()
	zone := zoneOr(f)
	denied, unusable := f.denied()
	if len(good)+len(lame)+len(dead) == 0 {
		return noneAsked(f, denied, unusable)
	}
	switch {
	case len(good) == 0 && len(lame) == 0:
		return Result{Cause: AuthoritativeUnreachable,
			Summary: fmt.Sprintf("None of the servers of %s answers (%s), so no resolver can get an answer for %s%s.",
				zone, describe(dead), f.target(), via(f)) + unresolvedNote(f) + partial(f),
			Advice: fmt.Sprintf("Bring the name servers of %s back, or fix the NS records and glue at the parent (the registrar) "+
				"if the servers moved.", zone),
		}, true
	case len(lame) > 0:
		what := "which answer but do not serve the zone"
		if len(good) == 0 {
			what = "none of which serves the zone"
		}
		return Result{Cause: LameDelegation,
			Summary: fmt.Sprintf(delegator(f)+", %s (%s).", zone, servers(lame), what, describe(lame)),
			Advice: fmt.Sprintf("Either configure %s on those servers, or remove them from the NS records at the parent "+
				"(the registrar) and in the zone.", zone),
		}, true
	case inconsistent(f, good):
		return Result{Cause: AuthoritativeInconsistent,
			Summary: fmt.Sprintf("The servers of %s are out of step: %s; answers depend on which server a resolver asks.",
				zone, withSerials(good)),
			Advice: fmt.Sprintf("Bring the lagging servers of %s up to date with the primary (zone transfers: NOTIFY, "+
				"allow-transfer, the serial), or take them out of the NS set until they are.", zone),
		}, true
	case len(dead) > 0:
		return Result{Cause: PartialAuthoritativeOutage,
			Summary: fmt.Sprintf("Some servers of %s do not answer (%s) while %s do: resolvers that pick the dead ones fail.",
				zone, describe(dead), servers(good)) + partial(f),
			Advice: fmt.Sprintf("Bring back %s, or drop them from the NS set of %s at the parent and in the zone.",
				servers(dead), zone),
		}, true
	case len(f.Unresolved) > 0 || len(unusable) > 0:
		return unreachableBeside(f, good, unusable), true
	}
	return Result{}, false
}

// noneAsked explains a zone whose servers nxray heard none of: it would not
// probe them (notProbed), or their names have no address.
func noneAsked(f *Findings, denied, unusable []Answer) (Result, bool) {
	if len(denied) > 0 {
		return notProbed(f, denied, unusable), true
	}
	if len(f.Unresolved) == 0 || f.Zone == "" {
		return Result{}, false
	}
	zone := zoneOr(f)
	return Result{Cause: AuthoritativeUnreachable,
		Summary: fmt.Sprintf("The name servers of %s (%s) do not resolve to any address, so no resolver can reach them "+
			"for %s.", zone, list(f.Unresolved), f.target()),
		Advice: fmt.Sprintf("Give those names A/AAAA records (and glue at the parent when they are inside %s), or change the "+
			"NS records of %s at the parent (the registrar) to servers that exist.", zone, zone),
	}, true
}

// unreachableBeside explains a zone whose NS set lists, beside the good
// servers, names with no address or servers at addresses no resolver can
// reach over the network: a server there is as good as one with no address
// at all.
func unreachableBeside(f *Findings, good, unusable []Answer) Result {
	var what []string
	if len(f.Unresolved) > 0 {
		what = append(what, fmt.Sprintf("name servers that do not resolve to any address (%s)", list(f.Unresolved)))
	}
	if len(unusable) > 0 {
		what = append(what, fmt.Sprintf("name servers at addresses no resolver can reach over the network (%s)", kinds(unusable)))
	}
	bad := append(append([]string(nil), f.Unresolved...), hostNames(unusable)...)
	zone := zoneOr(f)
	return Result{Cause: LameDelegation,
		Summary: fmt.Sprintf("%s lists %s beside %s, which answer.", zone, strings.Join(what, " and "), servers(good)) +
			partial(f),
		Advice: fmt.Sprintf("Remove %s from the NS records of %s (at the parent and in the zone), or give them addresses "+
			"resolvers can reach.", list(dedupe(bad)), zone),
	}
}

// notProbed explains a zone none of whose servers was asked because nxray
// never probes their addresses. An address no resolver can reach over the
// network (loopback, link-local, multicast, unspecified) is a broken
// delegation for every resolver, so a name that fails is
// authoritative_unreachable. Any other (a network the operator denied,
// nxray's own address) may well serve the upstream: then nothing is known.
func notProbed(f *Findings, denied, unusable []Answer) Result {
	zone := zoneOr(f)
	if f.Rcode != dns.RcodeSuccess && len(unusable) == len(denied) {
		return Result{Cause: AuthoritativeUnreachable,
			Summary: fmt.Sprintf("The servers of %s are at addresses no resolver can reach over the network (%s), so no "+
				"resolver can get an answer for %s%s; nxray did not probe them: %s.",
				zone, kinds(unusable), f.target(), via(f), reasons(denied)) + unresolvedNote(f),
			Advice: fmt.Sprintf("Fix the NS records and glue of %s at the parent (the registrar), and the address records of "+
				"its name servers, to addresses resolvers can reach.", zone),
		}
	}
	seen := fmt.Sprintf("%s %s got %s from %s", f.Name, qtype(f.Qtype), rcode(f.Rcode), f.Upstream)
	if f.Rcode == dns.RcodeSuccess {
		seen = fmt.Sprintf("%s %s resolves at %s", f.Name, qtype(f.Qtype), f.Upstream)
	}
	return Result{Cause: Unknown, EDE: noEDE,
		Summary: fmt.Sprintf("%s, and nxray cannot check the servers of %s: it did not probe %s: %s.",
			seen, zone, servers(denied), reasons(denied)) + unresolvedNote(f),
		Advice: "Ask those servers by hand (dig @ADDRESS NAME +norec) from a host that may reach them; nxray never probes " +
			"diagnosis.deny_networks nor its own listen addresses.",
	}
}

// inconsistent says the servers that serve the zone publish different
// serials: a secondary that stopped taking transfers. It explains a name
// that resolves (nxray explain) or whose answers differ, not a SERVFAIL.
func inconsistent(f *Findings, good []Answer) bool {
	if f.Rcode == dns.RcodeServerFailure || f.Rcode == NoAnswer {
		return false
	}
	var first *Answer
	for i := range good {
		if !good[i].HasSerial {
			continue
		}
		if first == nil {
			first = &good[i]
		} else if good[i].Serial != first.Serial {
			return true
		}
	}
	return false
}

func truncation(f *Findings) (Result, bool) {
	var bad []Answer
	for _, a := range append(append([]Answer(nil), f.Auth...), f.Alternates...) {
		if a.Truncated && a.TCPFailed {
			bad = append(bad, a)
		}
	}
	if len(bad) == 0 {
		return Result{}, false
	}
	return Result{Cause: TruncatedNoTCP,
		Summary: fmt.Sprintf("The answer for %s %s does not fit in UDP, and TCP to %s fails.", f.target(), qtype(f.Qtype), servers(bad)),
		Advice:  "Allow DNS over TCP port 53 to those servers (firewalls often block it), or make the answer smaller.",
	}, true
}

func nsSets(f *Findings) (Result, bool) {
	onlyParent, onlyChild := f.nsMismatch()
	if len(onlyParent)+len(onlyChild) == 0 {
		return Result{}, false
	}
	return Result{Cause: LameDelegation,
		Summary: fmt.Sprintf("The NS sets of %s differ: only the parent lists %s; only the zone lists %s.",
			f.Zone, list(onlyParent), list(onlyChild)),
		Advice: fmt.Sprintf("Make the NS records at the parent (the registrar) and in the zone %s the same.", f.Zone),
	}, true
}

func unresolvedNote(f *Findings) string {
	if len(f.Unresolved) == 0 {
		return ""
	}
	return fmt.Sprintf(" Its NS names %s do not resolve.", list(f.Unresolved))
}

// serialsNote lists the serials the zone's servers publish, when they differ.
func serialsNote(f *Findings) string {
	seen := map[uint32]bool{}
	var s []string
	for _, a := range f.Auth {
		if a.HasSerial && !seen[a.Serial] {
			seen[a.Serial] = true
			s = append(s, fmt.Sprint(a.Serial))
		}
	}
	if len(s) < 2 {
		return ""
	}
	return " (their SOA serials: " + list(s) + ")"
}
