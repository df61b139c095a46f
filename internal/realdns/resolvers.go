package realdns

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/miekg/dns"
)

// What the resolvers answer, on the wire (TestResolverBehaviourTable logs
// it; Unbound 1.17.1, dnsmasq 2.90, Knot Resolver 5.6.0, BIND 9.18 serving;
// questions RD=1, EDNS0 1232, DO=0). ok.test.'s SOA has TTL 300 and minimum
// 3600, so a negative answer lives 300 s. "SOA ok.test. 300 s1" is the
// authority section: owner, TTL, serial. No AA unless written.
//
// a. nothere.ok.test., first ask and again 3 s later (from cache):
//    Unbound:  NXDOMAIN, SOA ok.test. 300 s1; cached: SOA ok.test. 297 s1
//    dnsmasq:  the same (its log says "cached" the second time): 300, then 297
//    kresd:    the same: 300, then 297
//    All three keep the zone's own SOA on a cached denial and count its TTL
//    down. BadAnchor and SkewedClock: SERVFAIL (see c).
// b. a name blocked by the resolver's own policy (blocked.ok.test., which
//    exists with A 192.0.2.3):
//    Unbound always_nxdomain (Filtering): NXDOMAIN AA, no SOA, no EDE
//    Unbound refuse (PolicyRefusing):    REFUSED AA, no EDE
//    dnsmasq --address=/blocked.ok.test/: NXDOMAIN, no AA, no SOA, no EDE
//    kresd policy.DENY: NXDOMAIN AA, SOA owned by the blocked name itself
//      (blocked.ok.test. 10800 s1, minimum 10800, made up), EDE 15 (Blocked)
//      text "CR36"
// c. DNSSEC (CD=1 always gives NOERROR with the A record and CD echoed):
//    www.dsmismatch.test. CD=0:
//      Unbound:  SERVFAIL, EDE 9 (DNSKEY Missing) "validation failure <...>:
//                no keys have a DS with algorithm ECDSAP256SHA256 from
//                127.0.1.13 for key dsmismatch.test. while building chain of
//                trust"; from cache: EDE 6 (DNSSEC Bogus), empty text
//      dnsmasq:  SERVFAIL, EDE 6, empty text, even on the first ask (below)
//      kresd:    SERVFAIL, EDE 6 (DNSSEC Bogus) text "EXRU"
//    www.expired.test. CD=0:
//      Unbound:  SERVFAIL, EDE 7 (Signature Expired) "... signature expired
//                from 127.0.1.14 for key expired.test. ..."; cached: EDE 6, ""
//      dnsmasq:  SERVFAIL, EDE 6, empty text: the 7 is lost
//      kresd:    SERVFAIL, EDE 7 (Signature Expired) text "6GJV"
//    dnsmasq relays its upstream's EDE as it is (code and text), but it sends
//    a query that got SERVFAIL upstream a second time, so its client gets
//    Unbound's second, cached answer: EDE 6 without text, whatever the first
//    said.
//    BadAnchor (Unbound, anchor a key the root never had): SERVFAIL for every
//      name, ". NS" too, EDE 6 "... no keys have a DS with algorithm
//      ECDSAP256SHA256 from 127.0.1.10 for trust anchor . while building
//      chain of trust" (once seen as EDE 9 with the same text); cached: EDE 6,
//      empty text. CD=1 answers.
//    SkewedClock (Unbound, val-override-date a year ahead): SERVFAIL for every
//      name, ". NS" too, EDE 7 "... signature expired from 127.0.1.10 for trust
//      anchor . ..."; cached: EDE 6, empty text. CD=1 answers.
// d. www.lame.test. (REFUSED by its only server): SERVFAIL, no EDE, from all
//    three. www.dead.test. (nothing listens): SERVFAIL, no EDE, from all
//    three; Unbound (infra-cache-max-rtt 500) after 0.75 s, dnsmasq as its
//    Unbound, kresd after 4.4 s. www.notcp.test. (TC over UDP, no TCP):
//    SERVFAIL, no EDE, from all three.
// e. (cname.test., of scenarios.go) alias.cname.test. CNAME nothere.ok.test.: NXDOMAIN, answer the CNAME,
//    SOA ok.test. (the target's zone), from all three. todead.cname.test.
//    CNAME www.dead.test.: SERVFAIL with the CNAME in the answer, no EDE.
//    tobogus.cname.test. CNAME www.dsmismatch.test.: SERVFAIL, no answer,
//    EDE 6 (Unbound's text names dsmismatch.test.; kresd "EXRU").
// f. later.ok.test. asked 11 s after a., then added to ok.test. (serial 2),
//    asked again 3 s later: all three still say NXDOMAIN with SOA ok.test. s1,
//    TTL counted down (Unbound and dnsmasq 289 then 286, kresd 292 then 289),
//    while BIND serves serial 2. Note the first ask: its SOA TTL was already
//    below 300, though nothing had asked for later.ok.test. before (Unbound
//    and kresd answer from what they cached with a.: the SOA RRset, and for
//    kresd, which uses NSEC records aggressively, probably the NSEC proof
//    too). A counted-down TTL alone does not tell a denial cached before the
//    change from a new one; the old serial does.
// g. the refusing roles: Refusing (Unbound, access-control refuse) answers
//    REFUSED, EDE 18 (Prohibited) with empty text, no AA, to everything,
//    ". NS" too; PolicyRefusing answers REFUSED AA, no EDE, for its two
//    names only, and ". NS" NOERROR.
// h. RD=0 (www.ok.test., cached): every Unbound role REFUSED, EDE 20 (Not
//    Authoritative) with empty text (Refusing: EDE 18); dnsmasq forwards it
//    and relays that; kresd (module refuse_nord) REFUSED, EDE 20 "ABC4".

// More resolver roles, the keys of Tree.Resolvers: the software and the
// misconfigurations users run nxray in front of.
const (
	PolicyRefusing = "policy-refusing" // Unbound, validating; REFUSED for refused.ok.test. and blocked.ok.test. only
	BadAnchor      = "bad-anchor"      // Unbound whose root trust anchor is a key the root never used
	SkewedClock    = "skewed-clock"    // Unbound validating as if a year from now (val-override-date)
	Dnsmasq        = "dnsmasq"         // dnsmasq forwarding to the validating Unbound; NXDOMAIN for blocked.ok.test.
	Knot           = "knot"            // Knot Resolver from the tree's root, validating; DENY for blocked.ok.test.
)

// Addresses of the resolvers above, all on port 53. 127.0.0.0/8 is local
// on Linux, so they bind without an alias on lo.
const (
	ipPolicyRefuse = "127.0.1.200"
	ipBadAnchor    = "127.0.1.201"
	ipSkewed       = "127.0.1.202"
	ipDnsmasq      = "127.0.1.203"
	ipKnot         = "127.0.1.204"
)

// skew is how far SkewedClock's clock is ahead: every signature of the
// tree (dnssec-signzone's default, 30 days) has expired for it.
const skew = 365 * 24 * time.Hour

// startMoreResolvers starts the resolvers beyond the four Unbound roles of
// startUnbounds: three misconfigured Unbounds, dnsmasq and Knot Resolver.
// dnsmasq and Knot Resolver are optional (Available does not ask for
// them): without the package, Resolvers has no Dnsmasq or Knot.
func (t *Tree) startMoreResolvers() error {
	anchor := filepath.Join(t.Dir, "dsset-.")
	bad, err := t.wrongDS(".")
	if err != nil {
		return fmt.Errorf("a wrong root anchor: %w", err)
	}
	if err := t.write("bad-anchor.ds", bad+"\n"); err != nil {
		return err
	}
	validator := "\tmodule-config: \"validator iterator\"\n\ttrust-anchor-file: \"%s\"\n"
	unbounds := []struct{ role, ip, extra string }{
		{PolicyRefusing, ipPolicyRefuse, fmt.Sprintf(validator, anchor) +
			"\tlocal-zone: \"refused.ok.test.\" refuse\n\tlocal-zone: \"blocked.ok.test.\" refuse\n"},
		{BadAnchor, ipBadAnchor, fmt.Sprintf(validator, filepath.Join(t.Dir, "bad-anchor.ds"))},
		{SkewedClock, ipSkewed, fmt.Sprintf(validator, anchor) +
			"\tval-override-date: \"" + time.Now().Add(skew).UTC().Format("20060102150405") + "\"\n"},
	}
	for _, u := range unbounds {
		if err := t.startUnbound(u.role, u.ip, "\taccess-control: 127.0.0.0/8 allow\n"+u.extra); err != nil {
			return err
		}
	}
	if _, err := toolPath("dnsmasq"); err == nil {
		if err := t.startDnsmasq(); err != nil {
			return err
		}
	}
	if _, err := toolPath("kresd"); err == nil {
		return t.startKnot()
	}
	return nil
}

// startDnsmasq runs dnsmasq as a home router does, forwarding everything
// to the validating Unbound. It reads no configuration file, no
// /etc/resolv.conf and no /etc/hosts, serves no DHCP (no dhcp-range) and
// answers blocked.ok.test. (and below) NXDOMAIN itself.
func (t *Tree) startDnsmasq() error {
	return t.spawnReady(Dnsmasq, ipDnsmasq, "dnsmasq",
		"--keep-in-foreground", "--conf-file=/dev/null", "--user=root", "--pid-file=",
		"--no-resolv", "--no-poll", "--no-hosts",
		"--bind-interfaces", "--listen-address="+ipDnsmasq, "--port=53",
		"--server="+ipValid+"#53", "--address=/blocked.ok.test/",
		"--log-queries=extra", "--log-facility="+filepath.Join(t.Dir, "dnsmasq.log"))
}

// startKnot runs Knot Resolver from the tree's root only: the root hints
// and the trust anchor are the tree's, the anchor is read-only (no RFC
// 5011 updates), and the modules that would query on their own are off.
func (t *Tree) startKnot() error {
	dir := filepath.Join(t.Dir, "kresd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`-- Generated by realdns: Knot Resolver inside the private tree only.
net.ipv6 = false
net.listen('%s', 53, { kind = 'dns' })
modules.unload('ta_update')
modules.unload('ta_signal_query')
modules.unload('detect_time_skew')
modules.unload('detect_time_jump')
trust_anchors.remove('.')
trust_anchors.add_file('%s', true)
modules.load('hints > iterate')
hints.root({ ['ns.root.'] = '%s' })
cache.open(10 * MB, 'lmdb://%s/cache')
-- kresd ignores glue and answers in 127.0.0.0/8 unless a query has
-- ALLOW_LOCAL: without it, the first question into each zone of the
-- tree fails (no suitable transport) and only a retry, from cached
-- glue, succeeds. A chain rule: the rules below still apply.
policy.add(policy.all(policy.FLAGS({ 'ALLOW_LOCAL' })))
policy.add(policy.suffix(policy.DENY, { todname('blocked.ok.test.') }))
-- test. is special-use (RFC 6761): kresd denies it by policy.special_names
-- unless a rule lets it through first.
policy.add(policy.suffix(policy.PASS, { todname('test.') }))
`, ipKnot, filepath.Join(t.Dir, "dsset-."), ipRoot, dir)
	if err := t.write("kresd.conf", conf); err != nil {
		return err
	}
	return t.spawnReady(Knot, ipKnot, "kresd", "--noninteractive", "--config="+filepath.Join(t.Dir, "kresd.conf"), dir)
}

func (t *Tree) spawnReady(role, ip, name string, args ...string) error {
	if err := t.spawn(name, args...); err != nil {
		return err
	}
	return t.ready(role, ip)
}

// ready registers role at ip:53 once it resolves ok.test.'s SOA.
func (t *Tree) ready(role, ip string) error {
	addr := net.JoinHostPort(ip, "53")
	t.Resolvers[role] = addr
	if err := waitReady(addr, "ok.test.", dns.TypeSOA, role == Refusing || role == BadAnchor || role == SkewedClock); err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	return nil
}
