package lab

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startLab starts a hierarchy that the test's cleanup closes.
func startLab(t *testing.T) *Hierarchy {
	t.Helper()
	h, err := StartHierarchy()
	if err != nil {
		t.Fatalf("StartHierarchy: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// ask is dig: EDNS0 with DO=1 and RD as given, over UDP unless tcp.
type ask struct {
	rd, cd, tcp, noEDNS bool
}

func (a ask) query(t *testing.T, server, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = a.rd
	q.CheckingDisabled = a.cd
	if !a.noEDNS {
		q.SetEdns0(1232, true)
	}
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	if a.tcp {
		c.Net = "tcp"
	}
	resp, _, err := c.Exchange(q, server)
	return resp, err
}

func (a ask) mustQuery(t *testing.T, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	resp, err := a.query(t, server, name, qtype)
	if err != nil {
		t.Fatalf("%s %s @%s: %v", name, dns.TypeToString[qtype], server, err)
	}
	return resp
}

// edeOf returns the EDE code of resp, or -1 when it has none.
func edeOf(resp *dns.Msg) int {
	if opt := resp.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return int(e.InfoCode)
			}
		}
	}
	return -1
}

func TestHierarchyFields(t *testing.T) {
	h := startLab(t)
	if h.Port == 0 || len(h.RootHints) != 1 || len(h.TrustAnchors) != 1 || h.DeadIP == "" {
		t.Fatalf("incomplete hierarchy: %+v", h)
	}
	for _, role := range []string{RoleValidating, RoleNonvalidating, RoleFiltering, RoleRefusing, RoleStale} {
		addr := h.Resolvers[role]
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !strings.HasPrefix(host, "127.0.0.") {
			t.Errorf("resolver %s at %q, want 127.0.0.x:port", role, addr)
		}
	}
	want := h.addr(h.DeadIP)
	if got := h.Servers["partial.test."]; len(got) != 2 || got[1] != want {
		t.Errorf("Servers[partial.test.] = %v, want a live server then %s", got, want)
	}
}

// Two labs at once must not clash: the engine's tests may run in parallel
// packages, each with its own lab.
func TestTwoHierarchies(t *testing.T) {
	a, b := startLab(t), startLab(t)
	if a.Port == b.Port {
		t.Fatalf("both labs on port %d", a.Port)
	}
	for _, h := range []*Hierarchy{a, b} {
		resp := ask{}.mustQuery(t, h.addr(ipOK), "www.ok.test.", dns.TypeA)
		if resp.Rcode != dns.RcodeSuccess || !resp.Authoritative {
			t.Errorf("lab on port %d: %s", h.Port, resp)
		}
	}
}

// Close must stop every goroutine, including a resolution that is still
// waiting on the dead server, return within a bounded time, and be safe to
// call twice.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	h, err := StartHierarchy()
	if err != nil {
		t.Fatal(err)
	}
	// Send a query that waits on DeadIP without waiting for its answer.
	conn, err := net.Dial("udp", h.Resolvers[RoleValidating])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := new(dns.Msg)
	q.SetQuestion("www.dead.test.", dns.TypeA)
	wire, _ := q.Pack()
	if _, err := conn.Write(wire); err != nil {
		t.Fatal(err)
	}
	// The resolver's query arriving at the dead server proves it is now
	// waiting there: read it from the black hole (which never answers).
	hole := h.holes[0].(net.PacketConn)
	_ = hole.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := hole.ReadFrom(make([]byte, 512)); err != nil {
		t.Fatalf("resolver never asked the dead server: %v", err)
	}
	began := time.Now()
	h.Close()
	h.Close()
	if took := time.Since(began); took > perServerTimeout*2/3 {
		t.Errorf("Close took %s", took)
	}
	goleak.VerifyNone(t)
	_, err = ask{}.query(t, h.addr(ipOK), "www.ok.test.", dns.TypeA)
	var ne net.Error
	if err == nil || (!errors.As(err, &ne) && !strings.Contains(err.Error(), "refused")) {
		t.Errorf("query after Close: err = %v, want a network error", err)
	}
}
