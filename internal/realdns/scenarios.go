package realdns

import "fmt"

// Addresses of the harder scenarios, all on port 53, each served by BIND
// (scenarioIPs). Nothing of the tree listens on manyDeadHoles (a test binds
// its black holes there) or on bigAddr's addresses.
const (
	ipCNAME    = "127.0.1.40" // cname.test.: CNAMEs into other zones
	ipDNAME    = "127.0.1.41" // dname.test.: a DNAME onto ok.test.
	ipHoster   = "127.0.1.42" // hoster.test., whose ns.hoster.test. serves noglue.test.
	ipNoGlue   = "127.0.1.43" // ns.hoster.test.: noglue.test.
	ipSplit1   = "127.0.1.44" // ns1.split.test.: the current split.test. (serial 5)
	ipSplit2   = "127.0.1.45" // ns2.split.test.: an old copy (serial 3)
	ipOldHost  = "127.0.1.46" // ns1.oldhost.test.: oldhost.test. and the old moved.test. (serial 1)
	ipNewHost  = "127.0.1.47" // ns1.newhost.test.: newhost.test. and the current moved.test. (serial 2)
	ipAlgo     = "127.0.1.48" // algo.test., signed with ED448
	ipParentz  = "127.0.1.49" // parentz.test. and its child kid.parentz.test., one server
	ipManyLive = "127.0.1.50" // ns12.manydead.test., the one live server of twelve
	ipParentz2 = "127.0.1.62" // ns2.parentz.test.: parentz.test. only, referring kid.parentz.test. to ipParentz
)

// scenarioIPs are the addresses above, for BIND's listen-on and lo's aliases.
var scenarioIPs = []string{ipCNAME, ipDNAME, ipHoster, ipNoGlue, ipSplit1, ipSplit2, ipOldHost, ipNewHost,
	ipAlgo, ipParentz, ipManyLive, ipParentz2}

// manyDeadHoles are the addresses of ns01 to ns11.manydead.test.: black
// holes (a test binds them, reads and never answers), so probes time out.
var manyDeadHoles = func() []string {
	var out []string
	for i := 51; i <= 61; i++ {
		out = append(out, fmt.Sprintf("127.0.1.%d", i))
	}
	return out
}()

// bigNS is how many NS names big.test. has, each with an address of its
// own where nothing listens, so that no probe budget covers them all.
const bigNS = 400

// bigAddr is the glue of ns<i>.big.test. (i from 1): 127.0.2.1 onwards,
// outside 127.0.1.x so that no server of the tree can ever be there.
// Loopback: a query is refused at once.
func bigAddr(i int) string { return fmt.Sprintf("127.0.%d.%d", 2+i/250, 1+i%250) }

// scenarios are the zones of the harder cases: what an expert meets when
// a failure is not where it first seems to be.
var scenarios = []child{
	// A healthy signed zone whose names point into other zones: the fault,
	// when there is one, is at the end of the chain.
	{name: "cname.test", parent: map[string]string{"ns1.cname.test": ipCNAME}, apex: map[string]string{"ns1.cname.test": ipCNAME},
		at: []string{ipCNAME}, signed: true, records: []string{"www A 192.0.2.60",
			"alias CNAME nothere.ok.test.", "todead CNAME www.dead.test.", "tobogus CNAME www.dsmismatch.test."}},
	// old.dname.test. DNAME ok.test.: nothere.old.dname.test. is
	// synthesised into nothere.ok.test., which does not exist.
	{name: "dname.test", parent: map[string]string{"ns1.dname.test": ipDNAME}, apex: map[string]string{"ns1.dname.test": ipDNAME},
		at: []string{ipDNAME}, signed: true, records: []string{"www A 192.0.2.61", "old DNAME ok.test."}},
	// hoster.test. holds the addresses of other zones' servers: ns (of
	// noglue.test.) and ns2, a name with no address at all.
	{name: "hoster.test", parent: map[string]string{"ns1.hoster.test": ipHoster}, apex: map[string]string{"ns1.hoster.test": ipHoster},
		at: []string{ipHoster}, records: []string{"ns A " + ipNoGlue, `ns2 TXT "no address here"`}},
	// Delegated out of bailiwick: test. gives no glue for ns.hoster.test.,
	// whose address only hoster.test. knows.
	{name: "noglue.test", parent: map[string]string{"ns.hoster.test": ""}, apex: map[string]string{"ns.hoster.test": ""},
		at: []string{ipNoGlue}, records: []string{"www A 192.0.2.62"}},
	// Its NS names resolve nowhere: nowhere.test. does not exist, and
	// ns2.hoster.test. has no A or AAAA. Nobody serves it.
	{name: "nsgone.test", parent: map[string]string{"ns1.nowhere.test": "", "ns2.hoster.test": ""}},
	// Twelve servers, eleven silent (black holes) and the live one last.
	{name: "manydead.test", parent: manyDeadNS(), apex: manyDeadNS(), at: []string{ipManyLive},
		records: []string{"www A 192.0.2.63"}},
	// Two servers with different copies: ns1 has serial 5 with new, ns2
	// (oldCopies) still serial 3 without it.
	{name: "split.test", parent: map[string]string{"ns1.split.test": ipSplit1, "ns2.split.test": ipSplit2},
		apex: map[string]string{"ns1.split.test": ipSplit1, "ns2.split.test": ipSplit2}, at: []string{ipSplit1}, serial: 5,
		records: []string{"www A 192.0.2.64", "new A 192.0.2.65"}},
	// The zone moved to newhost, but test. (the registrar) still lists the
	// old provider, which serves an old copy (oldCopies) that points to
	// the new one.
	{name: "oldhost.test", parent: map[string]string{"ns1.oldhost.test": ipOldHost},
		apex: map[string]string{"ns1.oldhost.test": ipOldHost}, at: []string{ipOldHost}},
	{name: "newhost.test", parent: map[string]string{"ns1.newhost.test": ipNewHost},
		apex: map[string]string{"ns1.newhost.test": ipNewHost}, at: []string{ipNewHost}},
	{name: "moved.test", parent: map[string]string{"ns1.oldhost.test": ""}, apex: map[string]string{"ns1.newhost.test": ""},
		at: []string{ipNewHost}, serial: 2, records: []string{"www A 192.0.2.50"}},
	// Signed with ED448 (algorithm 16), which BIND signs and miekg/dns
	// cannot verify.
	{name: "algo.test", parent: map[string]string{"ns1.algo.test": ipAlgo}, apex: map[string]string{"ns1.algo.test": ipAlgo},
		at: []string{ipAlgo}, signed: true, alg: "ED448", records: []string{"www A 192.0.2.66"}},
	// One server (ns1) for a zone and its child: it answers for the child
	// with no referral. The child's NS name differs from the parent's. The
	// zone's second server (ns2) serves the parent only and rightly refers
	// the child to ns1: it is not lame.
	{name: "parentz.test", parent: map[string]string{"ns1.parentz.test": ipParentz, "ns2.parentz.test": ipParentz2},
		apex: map[string]string{"ns1.parentz.test": ipParentz, "ns2.parentz.test": ipParentz2}, at: []string{ipParentz, ipParentz2}, signed: true,
		records: []string{"www A 192.0.2.67"}},
	{name: "kid.parentz.test", parent: map[string]string{"ns1.kid.parentz.test": ipParentz},
		apex: map[string]string{"ns1.kid.parentz.test": ipParentz}, at: []string{ipParentz}, signed: true,
		records: []string{"www A 192.0.2.68"}},
	// 400 NS names, none of which answers (nothing listens).
	{name: "big.test", parent: bigNSSet()},
}

// oldCopies are the second copies of the scenarios' zones.
var oldCopies = []oldCopy{
	{name: "split.test", at: []string{ipSplit2}, serial: 3,
		apex: map[string]string{"ns1.split.test": ipSplit1, "ns2.split.test": ipSplit2}, records: []string{"www A 192.0.2.64"}},
	{name: "moved.test", at: []string{ipOldHost}, serial: 1, apex: map[string]string{"ns1.newhost.test": ""}},
}

// manyDeadNS is ns01 to ns11.manydead.test. at the black holes and
// ns12.manydead.test. at the live server: last in name order, which is
// the order BIND's referral gives (rrset-order none).
func manyDeadNS() map[string]string {
	ns := map[string]string{"ns12.manydead.test": ipManyLive}
	for i, ip := range manyDeadHoles {
		ns[fmt.Sprintf("ns%02d.manydead.test", i+1)] = ip
	}
	return ns
}

func bigNSSet() map[string]string {
	ns := map[string]string{}
	for i := 1; i <= bigNS; i++ {
		ns[fmt.Sprintf("ns%d.big.test", i)] = bigAddr(i)
	}
	return ns
}
