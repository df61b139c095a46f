package realdns

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// parentOf is the zone that delegates c: the closest enclosing child, or
// test.
func parentOf(c child, all []child) string {
	parent := "test"
	for _, p := range all {
		if p.name != c.name && dns.IsSubDomain(p.name+".", c.name+".") && len(p.name) > len(parent) {
			parent = p.name
		}
	}
	return parent
}

// buildZones writes and signs the children, deepest first so that a
// parent carries its children's DS, then the old copies, test. and the
// root.
func (t *Tree) buildZones() error {
	t.deleg = map[string][]string{}
	order := append([]child(nil), t.children...)
	slices.SortStableFunc(order, func(a, b child) int {
		return cmp.Compare(dns.CountLabel(b.name+"."), dns.CountLabel(a.name+"."))
	})
	for _, c := range order {
		p := parentOf(c, t.children)
		for _, h := range sortedKeys(c.parent) {
			t.deleg[p] = append(t.deleg[p], fmt.Sprintf("%s. NS %s.", c.name, h))
			if ip := c.parent[h]; ip != "" {
				t.deleg[p] = append(t.deleg[p], fmt.Sprintf("%s. A %s", h, ip))
			}
		}
		if c.apex == nil {
			continue
		}
		if err := t.buildChild(c); err != nil {
			return err
		}
		if !c.signed {
			continue
		}
		ds, err := t.dsOf(c)
		if err != nil {
			return err
		}
		t.deleg[p] = append(t.deleg[p], ds)
	}
	for _, o := range oldCopies {
		if err := t.write(o.file()+".signed", zoneText(o.name, o.serial, o.apex, o.records)); err != nil {
			return err
		}
	}
	tld := map[string]string{"ns1.nic.test": ipTLD}
	if err := t.write("test.zone", zoneText("test", 1, tld, t.deleg["test"])); err != nil {
		return err
	}
	if err := t.sign("test", "test.zone", ""); err != nil {
		return err
	}
	testDS, err := os.ReadFile(filepath.Join(t.Dir, "dsset-test."))
	if err != nil {
		return err
	}
	root := []string{"test. NS ns1.nic.test.", "ns1.nic.test. A " + ipTLD, strings.TrimSpace(string(testDS))}
	if err := t.write("root.zone", zoneText(".", 1, map[string]string{"ns.root": ipRoot}, root)); err != nil {
		return err
	}
	if err := t.sign(".", "root.zone", ""); err != nil {
		return err
	}
	t.AnchorsFile = filepath.Join(t.Dir, "dsset-.")
	return nil
}

// buildChild writes c's zone file, with the delegations of its own
// children, and signs it if c is signed.
func (t *Tree) buildChild(c child) error {
	file := c.name + ".zone"
	records := append(append([]string(nil), c.records...), t.deleg[c.name]...)
	if err := t.write(file, zoneText(c.name, c.soaSerial(), c.apex, records)); err != nil {
		return err
	}
	if !c.signed {
		return os.Rename(filepath.Join(t.Dir, file), filepath.Join(t.Dir, file+".signed"))
	}
	var window []string
	if c.expired {
		window = []string{"-P", "-s", "20200101000000", "-e", "20200201000000"} // -P: it would refuse to verify expired signatures
	}
	return t.sign(c.name, file, c.alg, window...)
}

func (t *Tree) dsOf(c child) (string, error) {
	if c.wrongDS {
		return t.wrongDS(c.name)
	}
	ds, err := os.ReadFile(filepath.Join(t.Dir, "dsset-"+c.name+"."))
	return strings.TrimSpace(string(ds)), err
}

// namedConf is BIND's configuration: one view per address (matched by
// destination) holding the zones served there. Records come out in the
// order of the zone's database (rrset-order none), so that a referral
// lists its NS names in the same order every time; big.test.'s 400 NS
// records need max-records-per-type off (BIND 9.18.28 and later allow 100).
func (t *Tree) namedConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, `options {
	directory "%s"; pid-file "%s/named.pid"; session-keyfile "%s/session.key";
	listen-on port 53 { %s; }; listen-on-v6 { none; };
	recursion no; dnssec-validation no; allow-query { any; }; notify no;
	minimal-responses no; rrset-order { order none; }; max-records-per-type 0;
};
`, t.Dir, t.Dir, t.Dir, strings.Join(authIPs, "; "))
	type zoneFile struct{ zone, file string }
	at := map[string][]zoneFile{ipRoot: {{".", "root.zone.signed"}}, ipTLD: {{"test", "test.zone.signed"}}}
	for _, c := range t.children {
		for _, ip := range c.at {
			at[ip] = append(at[ip], zoneFile{c.name, c.name + ".zone.signed"})
		}
	}
	for _, o := range oldCopies {
		for _, ip := range o.at {
			at[ip] = append(at[ip], zoneFile{o.name, o.file() + ".signed"})
		}
	}
	for _, ip := range authIPs {
		fmt.Fprintf(&b, "view \"v%s\" {\n\tmatch-destinations { %s; };\n", strings.ReplaceAll(ip, ".", "_"), ip)
		for _, z := range at[ip] {
			fmt.Fprintf(&b, "\tzone \"%s\" { type primary; file \"%s\"; };\n", z.zone, z.file)
		}
		b.WriteString("};\n")
	}
	return b.String()
}
