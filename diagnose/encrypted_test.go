package diagnose_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/lab"
	"github.com/nxray/nxray/internal/upstream"
)

// fakeExchanger carries the probes of encrypted resolvers with exchange,
// and records whom it was asked to reach.
type fakeExchanger struct {
	exchange func(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error)
	mu       sync.Mutex // guards asked
	asked    map[string]int
}

func (f *fakeExchanger) Exchange(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	f.mu.Lock()
	if f.asked == nil {
		f.asked = map[string]int{}
	}
	f.asked[server]++
	f.mu.Unlock()
	return f.exchange(ctx, server, q)
}

// TestEncryptedResolvers: an encrypted alternate is asked through the
// Exchanger and its answers count as any alternate's; an encrypted
// upstream that fails its handshake makes upstream_unreachable say why.
func TestEncryptedResolvers(t *testing.T) {
	h := startLab(t)
	const (
		dotAlt = "tls://127.0.0.1:853#validating.test"
		badUp  = "tls://127.0.0.1:8853#dns.test"
	)
	ex := &fakeExchanger{exchange: func(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
		if server == badUp {
			return nil, &upstream.ReasonError{Reason: "certificate signed by unknown authority", Err: errors.New("x509")}
		}
		// The encrypted alternate is the lab's validating resolver.
		m, _, err := (&dns.Client{Timeout: time.Second}).ExchangeContext(ctx, q, h.Resolvers[lab.RoleValidating])
		return m, err
	}}
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{
		Upstreams:  []string{badUp},
		Alternates: []string{dotAlt, h.Resolvers[lab.RoleNonvalidating]},
		RootHints:  h.RootHints, AuthPort: h.Port, TrustAnchors: h.TrustAnchors, Timeout: 300 * time.Millisecond,
		Exchanger: ex,
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("alternate", func(t *testing.T) {
		f := diagnose.Failure{Name: "www.dsmismatch.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Upstream: h.Resolvers[lab.RoleValidating]}
		fd, ev := p.Probe(context.Background(), f, func() bool { return true })
		fd.Name, fd.Qtype, fd.Rcode, fd.Upstream = f.Name, f.Qtype, f.Rcode, f.Upstream
		if r := diagnose.Classify(fd); r.Cause != diagnose.DNSSECBogus {
			t.Errorf("cause %s (%s), want dnssec_bogus", r.Cause, r.Summary)
		}
		found := false
		for _, e := range ev {
			found = found || (e.Server == dotAlt && e.Role == "alternate" && e.Rcode == "SERVFAIL")
		}
		if !found {
			t.Errorf("no alternate row for %s: %+v", dotAlt, ev)
		}
	})
	t.Run("upstream unreachable over TLS", func(t *testing.T) {
		f := diagnose.Failure{Name: "www.ok.test.", Qtype: dns.TypeA, Rcode: diagnose.NoAnswer, Upstream: badUp}
		fd, _ := p.Probe(context.Background(), f, func() bool { return true })
		fd.Name, fd.Qtype, fd.Rcode, fd.Upstream = f.Name, f.Qtype, f.Rcode, f.Upstream
		r := diagnose.Classify(fd)
		if r.Cause != diagnose.UpstreamUnreachable || !strings.Contains(r.Summary, badUp+": certificate signed by unknown authority") {
			t.Errorf("%s: %s", r.Cause, r.Summary)
		}
	})
	t.Run("explain asks an encrypted upstream first", func(t *testing.T) {
		v := diagnose.Explain(context.Background(), p, badUp, time.Second, "www.ok.test.", dns.TypeA, 100)
		if v.Cause != diagnose.UpstreamUnreachable || !strings.Contains(v.Summary, "unknown authority") {
			t.Errorf("%s: %s", v.Cause, v.Summary)
		}
	})
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.asked[dotAlt] == 0 || ex.asked[badUp] == 0 {
		t.Errorf("asked %v", ex.asked)
	}
}

// TestEncryptedPrivateResolver: a forward zone whose resolver is reached
// over TLS is diagnosed through the Exchanger, and its names still never
// leave for the public root or alternates.
func TestEncryptedPrivateResolver(t *testing.T) {
	port, servers := startPrivateTree(t)
	plain := fmt.Sprintf("%s:%d", ipResolver, port)
	const dot = "tls://127.0.4.3:853#resolver.corp.example"
	ex := &fakeExchanger{exchange: func(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
		m, _, err := (&dns.Client{Timeout: time.Second}).ExchangeContext(ctx, q, plain)
		return m, err
	}}
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{
		Upstreams:  []string{dot},
		Alternates: []string{fmt.Sprintf("%s:%d", ipPubAlt, port)},
		RootHints:  []string{ipPubRoot}, AuthPort: port, Timeout: 500 * time.Millisecond,
		Private:   []diagnose.PrivateZone{{Zone: "corp.example.", Resolvers: []string{dot}}},
		Exchanger: ex,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := diagnose.Failure{Name: "nothere.corp.example.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Upstream: dot}
	fd, ev := p.Probe(context.Background(), f, func() bool { return true })
	fd.Name, fd.Qtype, fd.Rcode, fd.Upstream = f.Name, f.Qtype, f.Rcode, f.Upstream
	r := diagnose.Classify(fd)
	if r.Cause != diagnose.NXDomainConfirmed {
		t.Errorf("cause %s: %s\n%s", r.Cause, r.Summary, table(ev))
	}
	if n := servers[ipPubRoot].queries.Load() + servers[ipPubAlt].queries.Load(); n != 0 {
		t.Errorf("the public root and alternate got %d queries", n)
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.asked[dot] == 0 {
		t.Errorf("the encrypted resolver was not asked: %v", ex.asked)
	}
}
