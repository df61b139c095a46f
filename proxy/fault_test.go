package proxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// TestUpstreamKilledUnderLoad: the first upstream dies while clients keep
// asking. Every query is still answered, by the second upstream, and no
// client waits much more than the one failing try.
func TestUpstreamKilledUnderLoad(t *testing.T) {
	first := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	second := dnstest.Start(t, dnstest.AnswerA("192.0.2.2", 60))
	const timeout = 300 * time.Millisecond
	_, addr := startProxy(t, func(c *Config) {
		c.Timeout, c.Deadline = timeout, 2*time.Second
		c.Cache.Size = 0 // every query goes upstream
	}, first.Addr, second.Addr)

	var answered, failed, slow atomic.Int64
	killAt, stopAt := int64(200), int64(600)
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &dns.Client{Timeout: 3 * time.Second}
			for i := 0; answered.Load() < stopAt; i++ {
				start := time.Now()
				r, _, err := client.Exchange(question(fmt.Sprintf("q%d-%d.example.test.", c, i), dns.TypeA), addr)
				if err != nil || r.Rcode != dns.RcodeSuccess {
					failed.Add(1)
					continue
				}
				if time.Since(start) > 2*timeout {
					slow.Add(1)
				}
				if answered.Add(1) == killAt {
					once.Do(func() { first.Stop(); close(killed) })
				}
			}
		}()
	}
	wg.Wait()
	<-killed
	if failed.Load() != 0 {
		t.Errorf("%d queries failed while the first upstream died; failover should hide it", failed.Load())
	}
	if slow.Load() != 0 {
		t.Errorf("%d queries took over two tries' time (%v): more than the one failing try", slow.Load(), 2*timeout)
	}
	if second.Queries() == 0 {
		t.Error("the second upstream never answered")
	}
}
