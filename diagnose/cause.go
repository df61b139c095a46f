package diagnose

import (
	"strings"

	"github.com/miekg/dns"
)

// Cause is why a name failed. The strings are a contract: logs, the JSON
// API and tests use them as they are.
type Cause string

const (
	NXDomainConfirmed          Cause = "nxdomain_confirmed"
	StaleNegativeCache         Cause = "stale_negative_cache"
	ResolverFiltering          Cause = "resolver_filtering"
	DNSSECBogus                Cause = "dnssec_bogus"
	DNSSECExpired              Cause = "dnssec_expired"
	LameDelegation             Cause = "lame_delegation"
	AuthoritativeUnreachable   Cause = "authoritative_unreachable"
	AuthoritativeInconsistent  Cause = "authoritative_inconsistent"
	PartialAuthoritativeOutage Cause = "partial_authoritative_outage"
	UpstreamRefused            Cause = "upstream_refused"
	UpstreamUnreachable        Cause = "upstream_unreachable"
	TruncatedNoTCP             Cause = "truncated_no_tcp"
	Unknown                    Cause = "unknown"
	Healthy                    Cause = "healthy"
)

// Causes lists every cause, in the order of the README's cause table.
var Causes = []Cause{NXDomainConfirmed, StaleNegativeCache, ResolverFiltering, DNSSECBogus,
	DNSSECExpired, LameDelegation, AuthoritativeUnreachable, AuthoritativeInconsistent, PartialAuthoritativeOutage,
	UpstreamRefused, UpstreamUnreachable, TruncatedNoTCP, Unknown, Healthy}

// noEDE marks a cause that attaches no Extended DNS Error to answers.
const noEDE = -1

// edeCode is the Extended DNS Error INFO-CODE (RFC 8914) a cause attaches to
// later answers for the name, or noEDE.
var edeCode = map[Cause]int{
	NXDomainConfirmed:          int(dns.ExtendedErrorCodeOther),
	StaleNegativeCache:         int(dns.ExtendedErrorCodeStaleNXDOMAINAnswer),
	ResolverFiltering:          int(dns.ExtendedErrorCodeFiltered),
	DNSSECBogus:                int(dns.ExtendedErrorCodeDNSBogus),
	DNSSECExpired:              int(dns.ExtendedErrorCodeSignatureExpired),
	LameDelegation:             int(dns.ExtendedErrorCodeNoReachableAuthority),
	AuthoritativeUnreachable:   int(dns.ExtendedErrorCodeNoReachableAuthority),
	AuthoritativeInconsistent:  int(dns.ExtendedErrorCodeOther),
	PartialAuthoritativeOutage: int(dns.ExtendedErrorCodeNetworkError),
	UpstreamRefused:            int(dns.ExtendedErrorCodeProhibited),
	UpstreamUnreachable:        int(dns.ExtendedErrorCodeNoReachableAuthority),
	TruncatedNoTCP:             int(dns.ExtendedErrorCodeNetworkError),
	Unknown:                    noEDE,
	Healthy:                    noEDE,
}

func lower(s string) string { return strings.ToLower(dns.Fqdn(s)) }
