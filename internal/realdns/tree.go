package realdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Resolver roles, the keys of Tree.Resolvers.
const (
	Validating    = "validating"
	Nonvalidating = "nonvalidating"
	Filtering     = "filtering" // NXDOMAIN for blocked.ok.test., which exists
	Refusing      = "refusing"  // REFUSED to everyone
)

// Tree is the running private DNS tree.
type Tree struct {
	Dir         string
	RootHints   []string          // root server IPs (port 53)
	AnchorsFile string            // the root's DS, for nxray's trust_anchors
	Resolvers   map[string]string // role -> "IP:53"
	procs       []*exec.Cmd
	lock        *os.File            // held while the tree runs: one tree per machine
	children    []child             // this tree's copy: AddToOK changes it
	deleg       map[string][]string // zone -> the NS, glue and DS records of its children
	aliases     []string
}

var tools = []string{"named", "unbound", "dnssec-keygen", "dnssec-signzone", "dnssec-dsfromkey", "ip"}

// toolPath finds a program on PATH or in the sbin directories Debian puts
// named, unbound and ip in (often not on a user's PATH).
func toolPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// Available says why the tree cannot run here, or nil: the Debian packages
// bind9, bind9-utils, unbound and iproute2, and the right to bind port 53.
func Available() error {
	var missing []string
	for _, t := range tools {
		if _, err := toolPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (apt-get install bind9 bind9-utils unbound iproute2)", strings.Join(missing, ", "))
	}
	l, err := net.ListenPacket("udp", net.JoinHostPort(ipDead, "53"))
	if err != nil {
		return fmt.Errorf("cannot bind %s:53 (root needed): %w", ipDead, err)
	}
	l.Close()
	return nil
}

// Start builds, signs and serves the tree under dir. Close stops it.
func Start(dir string) (*Tree, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	lock, err := lockTree()
	if err != nil {
		return nil, err
	}
	t := &Tree{lock: lock, Dir: dir, RootHints: []string{ipRoot}, Resolvers: map[string]string{},
		children: append(append([]child(nil), children...), scenarios...)}
	if err := t.buildZones(); err != nil {
		return nil, err
	}
	if err := t.addAliases(); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.startNamed(); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.startNoTCP(); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.startUnbounds(); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.startMoreResolvers(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Tree) write(name, text string) error {
	return os.WriteFile(filepath.Join(t.Dir, name), []byte(text), 0o644)
}

// startNamed runs one BIND serving every zone on its own address, by
// views that match the destination address.
func (t *Tree) startNamed() error {
	if err := t.write("named.conf", t.namedConf()); err != nil {
		return err
	}
	if err := t.spawn("named", "-g", "-u", "root", "-c", filepath.Join(t.Dir, "named.conf")); err != nil {
		return err
	}
	return waitReady(net.JoinHostPort(ipRoot, "53"), ".", dns.TypeSOA, false)
}

// startUnbounds starts the four resolver roles. They give up on a silent
// server within a second or two (infra-cache-max-rtt, outbound-msg-retry),
// not after Unbound's default of half a minute and more, so that a zone
// whose servers are dead gets a SERVFAIL before a client's timeout; and
// they answer a query however long it took (discard-timeout 0: Debian's
// 1.17.1 drops the answer after 1.9 s by default, expecting the client to
// have asked again).
func (t *Tree) startUnbounds() error {
	roles := []struct{ role, ip, extra string }{
		{Validating, ipValid, "\tmodule-config: \"validator iterator\"\n\ttrust-anchor-file: \"" + filepath.Join(t.Dir, "dsset-.") + "\"\n"},
		{Nonvalidating, ipNonValid, "\tmodule-config: \"iterator\"\n"},
		{Filtering, ipFilter, "\tmodule-config: \"iterator\"\n\tlocal-zone: \"blocked.ok.test.\" always_nxdomain\n"},
		{Refusing, ipRefuse, "\tmodule-config: \"iterator\"\n"},
	}
	for _, r := range roles {
		acl := "\taccess-control: 127.0.0.0/8 allow\n"
		if r.role == Refusing {
			acl = "\taccess-control: 127.0.0.0/8 refuse\n"
		}
		if err := t.startUnbound(r.role, r.ip, acl+r.extra); err != nil {
			return err
		}
	}
	return nil
}

// startUnbound runs one Unbound resolving from the tree's root on ip, with
// extra server: lines (its module-config and access-control among them).
func (t *Tree) startUnbound(role, ip, extra string) error {
	conf := fmt.Sprintf(`server:
	interface: %s
	port: 53
	do-not-query-localhost: no
	do-ip6: no
	chroot: ""
	username: ""
	directory: "%s"
	pidfile: "%s/unbound-%s.pid"
	use-syslog: no
	logfile: "%s/unbound-%s.log"
	verbosity: 1
	num-threads: 1
	qname-minimisation: no
	aggressive-nsec: no
	ede: yes
	val-log-level: 2
	outgoing-range: 64
	infra-cache-max-rtt: 500
	outbound-msg-retry: 3
	discard-timeout: 0
	local-zone: "test." nodefault
%s
stub-zone:
	name: "."
	stub-addr: %s@53
`, ip, t.Dir, t.Dir, role, t.Dir, role, extra, ipRoot)
	file := "unbound-" + role + ".conf"
	if err := t.write(file, conf); err != nil {
		return err
	}
	if err := t.spawn("unbound", "-d", "-c", filepath.Join(t.Dir, file)); err != nil {
		return err
	}
	return t.ready(role, ip)
}

// noTCPAnswers is how many A records www.notcp.test. has: at 16 bytes
// each, more than a 1232-byte EDNS0 buffer holds, so that every UDP answer
// is truncated.
const noTCPAnswers = 100

// startNoTCP runs the server of notcp.test.: an Unbound that answers for
// the zone from local data (authoritatively) over UDP only (do-tcp: no), as
// a server behind a firewall that drops DNS over TCP. www.notcp.test.'s
// answer never fits in UDP, so nobody can have it.
func (t *Tree) startNoTCP() error {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	interface: %s
	port: 53
	do-tcp: no
	do-ip6: no
	chroot: ""
	username: ""
	directory: "%s"
	pidfile: "%s/unbound-notcp.pid"
	use-syslog: no
	logfile: "%s/unbound-notcp.log"
	num-threads: 1
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
	local-zone: "test." nodefault
	local-zone: "notcp.test." static
	local-data: "notcp.test. 300 SOA ns1.notcp.test. hostmaster.notcp.test. 1 %s"
	local-data: "notcp.test. 300 NS ns1.notcp.test."
	local-data: "ns1.notcp.test. 300 A %s"
`, ipNoTCP, t.Dir, t.Dir, t.Dir, soaTimes, ipNoTCP)
	for i := range noTCPAnswers {
		fmt.Fprintf(&b, "\tlocal-data: \"www.notcp.test. 300 A 192.0.2.%d\"\n", i+1)
	}
	if err := t.write("unbound-notcp.conf", b.String()); err != nil {
		return err
	}
	if err := t.spawn("unbound", "-d", "-c", filepath.Join(t.Dir, "unbound-notcp.conf")); err != nil {
		return err
	}
	if err := waitReady(net.JoinHostPort(ipNoTCP, "53"), "notcp.test.", dns.TypeSOA, false); err != nil {
		return fmt.Errorf("unbound for notcp.test.: %w", err)
	}
	return nil
}

func (t *Tree) spawn(name string, args ...string) error {
	path, err := toolPath(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	log, err := os.Create(filepath.Join(t.Dir, name+fmt.Sprint(len(t.procs))+".out"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	t.procs = append(t.procs, cmd)
	return nil
}

// waitReady asks addr until it answers, for at most 15 s. There is no
// other sign that BIND or Unbound has finished loading.
func waitReady(addr, name string, qtype uint16, anyRcode bool) error {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		m := new(dns.Msg).SetQuestion(name, qtype)
		r, _, err := c.Exchange(m, addr)
		if err == nil && (anyRcode || r.Rcode == dns.RcodeSuccess) {
			return nil
		}
		last = err
		if err == nil {
			last = errors.New(dns.RcodeToString[r.Rcode])
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s within 15s: %v", addr, name, last)
}

// AddToOK adds a record to ok.test. with a new serial, re-signs it and has
// BIND reload, then waits until BIND serves the new serial.
func (t *Tree) AddToOK(record string) error {
	serial := 0
	for i, c := range t.children {
		if c.name == "ok.test" {
			t.children[i].records = append(append([]string(nil), c.records...), record)
			t.children[i].serial = c.soaSerial() + 1
			serial = t.children[i].serial
			if err := t.buildChild(t.children[i]); err != nil {
				return err
			}
		}
	}
	if err := t.procs[0].Process.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion("ok.test.", dns.TypeSOA), net.JoinHostPort(ipOK, "53"))
		if err == nil && len(r.Answer) == 1 && int(r.Answer[0].(*dns.SOA).Serial) == serial {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("BIND did not load the new ok.test. within 15s")
}

// addAliases gives lo the tree's authoritative addresses: all of
// 127.0.0.0/8 already routes to lo, but BIND listens only on addresses it
// finds on an interface. Close removes the ones it added.
func (t *Tree) addAliases() error {
	ip, err := toolPath("ip")
	if err != nil {
		return err
	}
	have, err := exec.Command(ip, "-4", "addr", "show", "dev", "lo").Output()
	if err != nil {
		return fmt.Errorf("ip addr show dev lo (iproute2 needed): %w", err)
	}
	for _, ip := range authIPs {
		if strings.Contains(string(have), " "+ip+"/") {
			continue
		}
		if err := t.run("ip", "addr", "add", ip+"/32", "dev", "lo"); err != nil {
			return err
		}
		t.aliases = append(t.aliases, ip)
	}
	return nil
}

// lockTree takes the machine-wide lock of the tree's fixed addresses, so
// that two test processes (go test runs packages at once) never start two
// trees on the same addresses; it waits for the other tree to close.
func lockTree() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "nxray-realdns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the tree's addresses: %w", err)
	}
	return f, nil
}

// Close stops every process, waits for it, removes the aliases and lets
// the next tree start.
func (t *Tree) Close() {
	defer func() {
		for _, ip := range t.aliases {
			t.run("ip", "addr", "del", ip+"/32", "dev", "lo")
		}
		t.lock.Close() // releases the flock
	}()
	for _, p := range t.procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range t.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			p.Process.Kill()
			<-done
		}
	}
}
