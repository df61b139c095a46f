package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/upstream"
)

// flags are the header and EDNS0 bits of one probe.
type flags struct {
	rd, cd, do bool
}

func (f flags) String() string {
	s := ""
	if !f.rd {
		s += " +norec"
	}
	if f.cd {
		s += " +cd"
	}
	if f.do {
		s += " +dnssec"
	}
	return s
}

// asker sends single probes and records each as evidence. Safe for
// concurrent use if take is.
type asker struct {
	timeout time.Duration
	// encrypted carries the probes of tls:// and https:// resolvers; nil
	// fails them.
	encrypted Exchanger
	take      func() bool
	guard     *guard     // nil: every address may be probed
	mu        sync.Mutex // guards the fields below
	ev        []Evidence
	// notAsked counts the probes not sent (budget, rate, deadline) or
	// given up when the diagnosis no longer needed them: no row each.
	notAsked int
	// refused holds the servers the guard refused, shown once each
	// however often the walk and the checks meet them.
	refused map[string]bool
}

func (a *asker) record(e Evidence) {
	a.mu.Lock()
	a.ev = append(a.ev, e)
	a.mu.Unlock()
}

// evidence returns the probes in the order an expert reads them: the
// upstream, the alternates, the walk, then the zone's own servers.
func (a *asker) evidence() []Evidence {
	a.mu.Lock()
	defer a.mu.Unlock()
	rank := map[string]int{"upstream": 0, "alternate": 1, "root": 2, "ns lookup": 3, "authoritative": 4}
	out := append([]Evidence(nil), a.ev...)
	slices.SortStableFunc(out, func(x, y Evidence) int { return rank[x.Role] - rank[y.Role] })
	if a.notAsked > 0 {
		out = append(out, Evidence{Role: "not asked", Query: fmt.Sprintf("%d probes not sent or not waited for "+
			"(probe budget, rate limit, deadline, or another server answered first)", a.notAsked)})
	}
	return out
}

func (a *asker) skipped() {
	a.mu.Lock()
	a.notAsked++
	a.mu.Unlock()
}

// deny records a refused probe, once per server.
func (a *asker) deny(e Evidence) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refused[e.Server] {
		return
	}
	if a.refused == nil {
		a.refused = map[string]bool{}
	}
	a.refused[e.Server] = true
	a.ev = append(a.ev, e)
}

var errNotAsked = errors.New("not asked")

// ask sends one question to server (IP:port) over UDP, and over TCP when
// the answer is truncated. It returns the answer, if any, and what it saw.
// It is the only way a probe leaves nxray: the guard sees every one first.
func (a *asker) ask(ctx context.Context, role, server, name string, qtype uint16, fl flags) (*dns.Msg, Answer) {
	return a.askIn(ctx, role, "", server, name, qtype, fl)
}

// askIn is ask of a server of zone, which its evidence names.
func (a *asker) askIn(ctx context.Context, role, zone, server, name string, qtype uint16, fl flags) (*dns.Msg, Answer) {
	ans := Answer{Server: server, CD: fl.cd, Rcode: NoAnswer}
	ev := Evidence{Server: server, Role: role, Zone: zone, Query: name + " " + dns.TypeToString[qtype] + fl.String()}
	if why := a.guard.refuse(server); why != "" {
		// Before take: a probe never sent costs no budget and no rate.
		ev.Error = why
		a.deny(ev)
		ans.NotAsked, ans.Denied, ans.Err = true, true, why
		return nil, ans
	}
	if ctx.Err() != nil || !a.take() {
		return a.unasked(ans)
	}
	q := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired, q.CheckingDisabled = fl.rd, fl.cd
	q.SetEdns0(1232, fl.do)
	start := time.Now()
	m, err := a.exchange(ctx, "udp", server, q)
	if err == nil && m.Truncated && !encrypted(server) {
		var heard bool
		if m, heard = a.overTCP(ctx, server, q, m, &ans, &ev); !heard {
			return a.unasked(ans)
		}
	}
	ev.RTTms = float64(time.Since(start).Microseconds()) / 1000
	if err != nil && (ctx.Err() != nil || errors.Is(err, syscall.ENETUNREACH)) {
		// Given up by the diagnosis (its deadline, or another server
		// answered first), not by the server: it was not heard out. No
		// route from this host (IPv6 glue on a host without IPv6) says
		// nothing of the server either.
		return a.unasked(ans)
	}
	defer func() { a.record(ev) }()
	if err != nil {
		ans.Err, ev.Error = short(err), short(err)
		return nil, ans
	}
	ans.Rcode, ans.AA, ans.Answers = m.Rcode, m.Authoritative, len(m.Answer)
	ans.EDE = edeCodes(m)
	ans.SOA = soaOf(m)
	ev.Rcode, ev.AA, ev.Answers, ev.EDE = dns.RcodeToString[m.Rcode], m.Authoritative, len(m.Answer), ans.EDE
	return m, ans
}

// overTCP asks q again over TCP after the truncated UDP answer m, and notes
// in ans and ev what came of it. It returns the answer to keep, and false
// when the diagnosis gave up on the probe before TCP answered.
func (a *asker) overTCP(ctx context.Context, server string, q, m *dns.Msg, ans *Answer, ev *Evidence) (*dns.Msg, bool) {
	ans.Truncated = true
	if !a.take() {
		// No probe left for TCP: the truncated answer is what was seen,
		// and TCP was not tried, so it did not fail.
		a.skipped()
		ev.Error = "truncated; TCP not asked"
		return m, true
	}
	tm, err := a.exchange(ctx, "tcp", server, q)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, false // given up by the diagnosis, not refused by the server
	case err != nil:
		ans.TCPFailed = true
		ev.Error = "truncated; TCP: " + short(err)
		return m, true
	}
	return tm, true
}

// unasked counts a probe not sent, or given up on before it was heard out,
// and returns ans marked so.
func (a *asker) unasked(ans Answer) (*dns.Msg, Answer) {
	a.skipped()
	ans.NotAsked, ans.Err = true, errNotAsked.Error()
	return nil, ans
}

// exchange sends q and waits for the answer until the probe's timeout or
// until ctx ends: the connection is closed then, since miekg/dns heeds a
// context's deadline but not its cancellation.
func (a *asker) exchange(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if encrypted(server) {
		if a.encrypted == nil {
			return nil, errNoExchanger{server}
		}
		return a.encrypted.Exchange(ctx, server, q)
	}
	c := &dns.Client{Net: network, Timeout: a.timeout, UDPSize: 1232}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	m, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return m, err
}

// short names a network failure the way a person would.
func short(err error) string {
	var ne net.Error
	switch {
	case upstream.Reason(err) != "": // TLS or HTTPS: "certificate signed by unknown authority"
		return upstream.Reason(err)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func edeCodes(m *dns.Msg) []uint16 {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	var out []uint16
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			out = append(out, e.InfoCode)
		}
	}
	return out
}

func soaOf(m *dns.Msg) *SOA {
	for _, rr := range m.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			return &SOA{Zone: s.Hdr.Name, Serial: s.Serial, TTL: s.Hdr.Ttl, Minimum: s.Minttl}
		}
	}
	return nil
}
