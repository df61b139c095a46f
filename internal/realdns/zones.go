package realdns

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Addresses of the tree, all on port 53.
const (
	ipRoot     = "127.0.1.10"
	ipTLD      = "127.0.1.11"
	ipOK       = "127.0.1.12"
	ipDSM      = "127.0.1.13"
	ipExpired  = "127.0.1.14"
	ipLame     = "127.0.1.15"
	ipPartial  = "127.0.1.16"
	ipNSM1     = "127.0.1.17"
	ipNSM2     = "127.0.1.18"
	ipNSM3     = "127.0.1.19"
	ipDead     = "127.0.1.20" // nothing listens here
	ipNoTCP    = "127.0.1.21" // an Unbound serving notcp.test. over UDP only
	ipValid    = "127.0.1.30"
	ipNonValid = "127.0.1.31"
	ipFilter   = "127.0.1.32"
	ipRefuse   = "127.0.1.33"
)

// authIPs are the addresses BIND listens on.
var authIPs = append([]string{ipRoot, ipTLD, ipOK, ipDSM, ipExpired, ipLame, ipPartial, ipNSM1, ipNSM2, ipNSM3},
	scenarioIPs...)

const soaTimes = "3600 600 86400 3600" // refresh retry expire minimum (the negative TTL)

// child is one zone below test. (or below another child) and its fault.
// Its parent is the closest enclosing child, or else test.
type child struct {
	name string // without the trailing dot
	// parent is the NS set the parent lists: NS host -> glue IP; "" for an
	// NS whose address is not the parent's to give (out of bailiwick).
	parent map[string]string
	apex   map[string]string // the zone's own NS set; nil when nobody serves it
	at     []string          // the addresses whose BIND view serves the zone
	serial int               // the SOA serial; 0 means 1
	signed bool
	alg    string // the signing algorithm, as dnssec-keygen names it; "" means ECDSAP256SHA256
	// wrongDS: the parent publishes a DS for a key the zone never uses.
	wrongDS bool
	expired bool // signatures expired long ago
	records []string
}

func (c child) soaSerial() int { return max(c.serial, 1) }

var children = []child{
	{name: "ok.test", parent: map[string]string{"ns1.ok.test": ipOK}, apex: map[string]string{"ns1.ok.test": ipOK},
		at: []string{ipOK}, signed: true, records: []string{"www A 192.0.2.1", "blocked A 192.0.2.3"}},
	{name: "dsmismatch.test", parent: map[string]string{"ns1.dsmismatch.test": ipDSM}, at: []string{ipDSM},
		apex: map[string]string{"ns1.dsmismatch.test": ipDSM}, signed: true, wrongDS: true, records: []string{"www A 192.0.2.10"}},
	{name: "expired.test", parent: map[string]string{"ns1.expired.test": ipExpired}, at: []string{ipExpired},
		apex: map[string]string{"ns1.expired.test": ipExpired}, signed: true, expired: true, records: []string{"www A 192.0.2.11"}},
	{name: "lame.test", parent: map[string]string{"ns1.lame.test": ipLame}},
	{name: "dead.test", parent: map[string]string{"ns1.dead.test": ipDead}},
	{name: "partial.test", parent: map[string]string{"ns1.partial.test": ipPartial, "ns2.partial.test": ipDead},
		apex: map[string]string{"ns1.partial.test": ipPartial, "ns2.partial.test": ipDead}, at: []string{ipPartial},
		records: []string{"www A 192.0.2.12"}},
	{name: "nsmismatch.test", parent: map[string]string{"ns1.nsmismatch.test": ipNSM1, "ns2.nsmismatch.test": ipNSM2},
		apex: map[string]string{"ns1.nsmismatch.test": ipNSM1, "ns3.nsmismatch.test": ipNSM3},
		at:   []string{ipNSM1, ipNSM2, ipNSM3}, records: []string{"www A 192.0.2.13"}},
	// Served by Unbound, not BIND (startNoTCP): BIND cannot be kept off TCP.
	{name: "notcp.test", parent: map[string]string{"ns1.notcp.test": ipNoTCP}},
}

// oldCopy is a second, different copy of a zone that other addresses
// serve: a secondary that stopped taking transfers, or the servers of a
// provider the zone has left. Never signed.
type oldCopy struct {
	name    string
	at      []string
	serial  int
	apex    map[string]string
	records []string
}

func (o oldCopy) file() string { return fileName(o.name) + "-old.zone" }

func zoneText(origin string, serial int, ns map[string]string, extra []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s.\n$TTL 300\n@ SOA ns.%s. hostmaster.%s. %d %s\n", strings.TrimPrefix(origin, "."),
		strings.TrimPrefix(origin, "."), strings.TrimPrefix(origin, "."), serial, soaTimes)
	for _, h := range sortedKeys(ns) {
		fmt.Fprintf(&b, "@ NS %s.\n", h)
		if ns[h] != "" && (strings.HasSuffix(h, "."+origin) || origin == ".") {
			fmt.Fprintf(&b, "%s. A %s\n", h, ns[h])
		}
	}
	for _, r := range extra {
		b.WriteString(r + "\n")
	}
	return strings.ReplaceAll(b.String(), "..", ".")
}

// sign runs dnssec-keygen (a KSK and a ZSK of algorithm alg, "" for
// ECDSAP256SHA256) and dnssec-signzone on a zone file; window is extra
// dnssec-signzone arguments (-s, -e).
func (t *Tree) sign(zone, file, alg string, window ...string) error {
	if alg == "" {
		alg = "ECDSAP256SHA256"
	}
	keys := filepath.Join(t.Dir, "keys-"+fileName(zone))
	if _, err := os.Stat(keys); os.IsNotExist(err) {
		if err := os.MkdirAll(keys, 0o755); err != nil {
			return err
		}
		for _, ksk := range [][]string{{"-f", "KSK"}, nil} {
			args := append([]string{"-q", "-K", keys, "-a", alg}, ksk...)
			if err := t.run("dnssec-keygen", append(args, zone)...); err != nil {
				return err
			}
		}
	}
	args := append([]string{"-q", "-S", "-K", keys, "-d", t.Dir, "-o", zone, "-f", file + ".signed"}, window...)
	return t.run("dnssec-signzone", append(args, file)...)
}

// wrongDS makes a DS record for a key the zone never publishes.
func (t *Tree) wrongDS(zone string) (string, error) {
	dir := filepath.Join(t.Dir, "spare-"+fileName(zone))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	keygen, err := toolPath("dnssec-keygen")
	if err != nil {
		return "", err
	}
	dsfromkey, err := toolPath("dnssec-dsfromkey")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(keygen, "-q", "-K", dir, "-a", "ECDSAP256SHA256", "-f", "KSK", zone).Output()
	if err != nil {
		return "", fmt.Errorf("dnssec-keygen: %w", err)
	}
	ds, err := exec.Command(dsfromkey, "-2", filepath.Join(dir, strings.TrimSpace(string(out))+".key")).Output()
	if err != nil {
		return "", fmt.Errorf("dnssec-dsfromkey: %w", err)
	}
	return strings.TrimSpace(string(ds)), nil
}

func (t *Tree) run(name string, args ...string) error {
	path, err := toolPath(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = t.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func fileName(zone string) string {
	if zone == "." {
		return "root"
	}
	return zone
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
