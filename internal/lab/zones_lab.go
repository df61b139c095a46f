package lab

import (
	"cmp"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// The address plan: every lab server has its own loopback address, all on
// Hierarchy.Port, so a delegation walk sees distinct servers exactly as on
// the Internet. Linux routes all of 127.0.0.0/8 to lo, so no setup is needed.
const (
	ipRoot       = "127.0.0.10" // "." (a.root-servers.lab.)
	ipTLD        = "127.0.0.11" // test. (ns1.nic.test.)
	ipOK         = "127.0.0.12" // ok.test.
	ipDSMismatch = "127.0.0.13" // dsmismatch.test.
	ipExpired    = "127.0.0.14" // expired.test.
	ipLame       = "127.0.0.15" // REFUSED for lame.test. (serves no zone)
	ipPartial    = "127.0.0.16" // partial.test. ns1; its ns2 is ipDead
	ipNSM1       = "127.0.0.17" // nsmismatch.test. ns1 (listed by parent and child)
	ipNSM2       = "127.0.0.18" // nsmismatch.test. ns2 (parent only)
	ipNSM3       = "127.0.0.19" // nsmismatch.test. ns3 (child only)
	ipDead       = "127.0.0.20" // a black hole: bound, never answers

	ipValidating    = "127.0.0.30"
	ipNonvalidating = "127.0.0.31"
	ipFiltering     = "127.0.0.32"
	ipRefusing      = "127.0.0.33"
	ipStale         = "127.0.0.34"
)

// OKSerial is the SOA serial ok.test. publishes now; the stale resolver
// denies new.ok.test. with OKSerial-1, as if it cached the denial before.
const OKSerial = 2026050102

// ns is one name server of a delegation: its name and the address of its glue.
type ns struct{ host, ip string }

// childSpec describes one child of test. and the fault it carries.
type childSpec struct {
	name     string   // zone apex
	parentNS []ns     // the NS set and glue test. publishes
	childNS  []ns     // the zone's own apex NS set; nil when nobody serves the zone
	servedBy []string // addresses that serve the zone authoritatively
	signed   bool     // DS in test. and a signed zone
	wrongDS  bool     // the DS in test. is for a key the child never publishes
	expired  bool     // every RRSIG expired yesterday
	records  []string // zone data beyond SOA, NS and glue
	serial   uint32   // SOA serial; 0 means 2026050101
}

var children = []childSpec{
	{name: "ok.test.", parentNS: []ns{{"ns1.ok.test.", ipOK}}, childNS: []ns{{"ns1.ok.test.", ipOK}},
		servedBy: []string{ipOK}, signed: true, serial: OKSerial, records: []string{
			"www.ok.test. 300 IN A 192.0.2.1",
			"new.ok.test. 300 IN A 192.0.2.2",
			"blocked.ok.test. 300 IN A 192.0.2.3",
		}},
	{name: "dsmismatch.test.", parentNS: []ns{{"ns1.dsmismatch.test.", ipDSMismatch}},
		childNS: []ns{{"ns1.dsmismatch.test.", ipDSMismatch}}, servedBy: []string{ipDSMismatch},
		signed: true, wrongDS: true, records: []string{"www.dsmismatch.test. 300 IN A 192.0.2.10"}},
	{name: "expired.test.", parentNS: []ns{{"ns1.expired.test.", ipExpired}},
		childNS: []ns{{"ns1.expired.test.", ipExpired}}, servedBy: []string{ipExpired},
		signed: true, expired: true, records: []string{"www.expired.test. 300 IN A 192.0.2.11"}},
	{name: "lame.test.", parentNS: []ns{{"ns1.lame.test.", ipLame}}},
	{name: "dead.test.", parentNS: []ns{{"ns1.dead.test.", ipDead}}},
	{name: "partial.test.", parentNS: []ns{{"ns1.partial.test.", ipPartial}, {"ns2.partial.test.", ipDead}},
		childNS:  []ns{{"ns1.partial.test.", ipPartial}, {"ns2.partial.test.", ipDead}},
		servedBy: []string{ipPartial}, signed: true, records: []string{"www.partial.test. 300 IN A 192.0.2.12"}},
	{name: "nsmismatch.test.", parentNS: []ns{{"ns1.nsmismatch.test.", ipNSM1}, {"ns2.nsmismatch.test.", ipNSM2}},
		childNS:  []ns{{"ns1.nsmismatch.test.", ipNSM1}, {"ns3.nsmismatch.test.", ipNSM3}},
		servedBy: []string{ipNSM1, ipNSM2, ipNSM3}, signed: true,
		records: []string{"www.nsmismatch.test. 300 IN A 192.0.2.13"}},
}

// labZones is the built lab: which zones each address serves, the trust
// anchor, and each zone's delegated server addresses.
type labZones struct {
	byIP      map[string][]*zone  // every authoritative address; an empty slice is a lame server
	anchors   []*dns.DS           // DS of the root KSK
	delegated map[string][]string // zone -> IPs its parent lists
}

// buildZones signs the lab bottom-up, children first so their DS records exist
// when test. is signed, then test., then the root. now anchors the windows.
func buildZones(now time.Time) (*labZones, error) {
	good := [2]time.Time{now.Add(-time.Hour), now.Add(30 * 24 * time.Hour)}
	past := [2]time.Time{now.Add(-30 * 24 * time.Hour), now.Add(-24 * time.Hour)}
	lz := &labZones{byIP: map[string][]*zone{ipLame: nil}, delegated: map[string][]string{}}
	tld := []string{"test. 3600 IN NS ns1.nic.test.", "ns1.nic.test. 3600 IN A " + ipTLD}
	for _, c := range children {
		ds, err := lz.buildChild(c, good, past)
		if err != nil {
			return nil, err
		}
		for _, n := range c.parentNS {
			tld = append(tld, fmt.Sprintf("%s 3600 IN NS %s", c.name, n.host),
				fmt.Sprintf("%s 3600 IN A %s", n.host, n.ip))
			lz.delegated[c.name] = append(lz.delegated[c.name], n.ip)
		}
		if ds != nil {
			tld = append(tld, ds.String())
		}
	}
	tldZone, tldKeys, err := signedZone("test.", 2026050101, good, tld...)
	if err != nil {
		return nil, err
	}
	lz.byIP[ipTLD] = []*zone{tldZone}
	lz.delegated["test."] = []string{ipTLD}
	root, rootKeys, err := signedZone(".", 2026050100, good,
		". 518400 IN NS a.root-servers.lab.", "a.root-servers.lab. 518400 IN A "+ipRoot,
		"test. 172800 IN NS ns1.nic.test.", "ns1.nic.test. 172800 IN A "+ipTLD, tldKeys.ds().String())
	if err != nil {
		return nil, err
	}
	lz.byIP[ipRoot] = []*zone{root}
	lz.anchors = []*dns.DS{rootKeys.ds()}
	return lz, nil
}

// buildChild builds and serves one child zone and returns the DS test.
// should publish for it (nil for an unsigned delegation).
func (lz *labZones) buildChild(c childSpec, good, past [2]time.Time) (*dns.DS, error) {
	if c.childNS == nil {
		return nil, nil // nobody serves it: lame or dead
	}
	records := append([]string(nil), c.records...)
	for _, n := range c.childNS {
		records = append(records, fmt.Sprintf("%s 3600 IN NS %s", c.name, n.host),
			fmt.Sprintf("%s 3600 IN A %s", n.host, n.ip))
	}
	window := good
	if c.expired {
		window = past
	}
	serial := cmp.Or(c.serial, 2026050101)
	var z *zone
	var ds *dns.DS
	var err error
	if c.signed {
		var keys *zoneKeys
		if z, keys, err = signedZone(c.name, serial, window, records...); err != nil {
			return nil, err
		}
		ds = keys.ds()
		if c.wrongDS {
			other, err := newZoneKeys(c.name) // a KSK the child never publishes
			if err != nil {
				return nil, err
			}
			ds = other.ds()
		}
	} else if z, err = newZone(c.name, serial, records...); err != nil {
		return nil, err
	}
	for _, ip := range c.servedBy {
		lz.byIP[ip] = append(lz.byIP[ip], z)
	}
	return ds, nil
}

// signedZone builds a zone with fresh keys and signs it over window.
func signedZone(origin string, serial uint32, window [2]time.Time, records ...string) (*zone, *zoneKeys, error) {
	z, err := newZone(origin, serial, records...)
	if err != nil {
		return nil, nil, err
	}
	keys, err := newZoneKeys(origin)
	if err != nil {
		return nil, nil, err
	}
	if err := z.sign(keys, window[0], window[1]); err != nil {
		return nil, nil, err
	}
	return z, keys, nil
}
