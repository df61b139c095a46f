package upstream

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
)

func checkPool(zone string, timeout time.Duration, ups ...Upstream) *Pool {
	return NewPool(Config{Upstreams: ups, Zone: zone, Strategy: "failover", Timeout: timeout, HealthInterval: time.Hour,
		Log: slog.New(slog.DiscardHandler), Mismatched: new(atomic.Uint64)})
}

// Check names each upstream that does not answer, and why, and asks a
// forward zone's upstreams for the zone's SOA.
func TestCheck(t *testing.T) {
	var asked atomic.Value
	good := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		asked.Store(r.Question[0].Name + " " + dns.TypeToString[r.Question[0].Qtype])
		m := new(dns.Msg).SetReply(r)
		m.Rcode = dns.RcodeNameError // any answer counts
		w.WriteMsg(m)
	}).Addr
	silent, _ := dnstest.Blackhole(t)
	refused := dnstest.DeadAddr(t)

	tests := []struct {
		name      string
		zone      string
		ups       []Upstream
		wantAsked string
		wantBad   map[string]string // upstream: in its error
	}{
		{"all answer", "", []Upstream{{Addr: good}, {Net: "tcp", Addr: good}}, ". NS", nil},
		{"a zone's SOA", "corp.example.", []Upstream{{Addr: good}}, "corp.example. SOA", nil},
		{"one silent, one refused", "", []Upstream{{Addr: silent}, {Addr: good}, {Net: "tcp", Addr: refused}}, ". NS",
			map[string]string{silent: "no answer to . NS within 200ms", "tcp://" + refused: "refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := checkPool(tt.zone, 200*time.Millisecond, tt.ups...)
			defer p.Close()
			fails := p.Check(context.Background())
			if len(fails) != len(tt.wantBad) {
				t.Fatalf("Check = %v, want failures of %v", fails, tt.wantBad)
			}
			for _, f := range fails {
				if want, ok := tt.wantBad[f.Upstream]; !ok || f.Zone != tt.zone || !strings.Contains(f.Err.Error(), want) {
					t.Errorf("failure %s (zone %q): %v; want one with %q in zone %q", f.Upstream, f.Zone, f.Err, want, tt.zone)
				}
			}
			if got, _ := asked.Load().(string); got != tt.wantAsked {
				t.Errorf("asked %q, want %q", got, tt.wantAsked)
			}
			for _, s := range p.States() {
				if s.Down {
					t.Errorf("%s marked down by a check: it only reports", s.Upstream)
				}
			}
		})
	}
}

// A check ends with its context, however long the pool's timeout.
func TestCheckEndsWithContext(t *testing.T) {
	silent, arrived := dnstest.Blackhole(t)
	p := checkPool("", time.Hour, Upstream{Addr: silent})
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []CheckFailure)
	go func() { done <- p.Check(ctx) }()
	<-arrived
	cancel()
	select {
	case fails := <-done:
		if len(fails) != 1 || fails[0].Upstream != silent {
			t.Errorf("Check = %v, want %s failed", fails, silent)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Check did not end with its context")
	}
}
