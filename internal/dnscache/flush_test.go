package dnscache

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// answerTo is a cacheable answer to a question for name: an A record, or
// an NXDOMAIN with a SOA when nx.
func answerTo(name string, qtype uint16, nx bool) *dns.Msg {
	m := new(dns.Msg).SetReply(new(dns.Msg).SetQuestion(name, qtype))
	if nx {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{testSOA(300, 300)}
		return m
	}
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
		A: net.IPv4(192, 0, 2, 1)}}
	return m
}

func flushCache(t *testing.T) *Cache {
	t.Helper()
	c, err := New(Config{Size: 1000, NegativeSize: 1000, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fill caches, for each name, a positive A answer and a negative AAAA one
// (two keys each: with and without RD), and returns the keys.
func fill(t *testing.T, c *Cache, now time.Time, names ...string) []Key {
	t.Helper()
	var keys []Key
	for _, name := range names {
		for _, rd := range []bool{true, false} {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
				k := Key{Name: name, Qtype: qt, Qclass: dns.ClassINET, Flags: KeyFlags(false, rd, false, false)}
				if c.Put(k, answerTo(name, qt, qt == dns.TypeAAAA), now) == nil {
					t.Fatalf("%s %d not cached", name, qt)
				}
				keys = append(keys, k)
			}
		}
	}
	return keys
}

func TestFlushName(t *testing.T) {
	names := []string{"example.com.", "www.example.com.", "a.b.example.com.", `x\.example.com.`,
		"notexample.com.", "example.org.", "com."}
	tests := []struct {
		name  string
		flush string
		gone  []string // every other name stays
	}{
		{"a zone: the name and every name under it", "example.com.", []string{"example.com.", "www.example.com.", "a.b.example.com."}},
		{"without case or final dot", "Example.COM", []string{"example.com.", "www.example.com.", "a.b.example.com."}},
		{"one name", "www.example.com.", []string{"www.example.com."}},
		{"a label with an escaped dot is not under example.com", `x\.example.com.`, []string{`x\.example.com.`}},
		{"a parent zone", "com.", []string{"example.com.", "www.example.com.", "a.b.example.com.", `x\.example.com.`, "notexample.com.", "com."}},
		{"the root is everything", ".", names},
		{"a name not cached", "example.net.", nil},
	}
	now := time.Unix(1_700_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := flushCache(t)
			keys := fill(t, c, now, names...)
			if got, want := c.FlushName(tt.flush), 4*len(tt.gone); got != want {
				t.Errorf("FlushName(%q) = %d, want %d", tt.flush, got, want)
			}
			for _, k := range keys {
				gone := false
				for _, g := range tt.gone {
					gone = gone || k.Name == g
				}
				if _, ok := c.Get(k, now); ok == gone {
					t.Errorf("after FlushName(%q), %s type %d cached: %v, want %v", tt.flush, k.Name, k.Qtype, ok, !gone)
				}
			}
			if got, want := c.Len(), len(keys)-4*len(tt.gone); got != want {
				t.Errorf("Len %d after the flush, want %d", got, want)
			}
		})
	}
}

func TestFlush(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := flushCache(t)
	keys := fill(t, c, now, "example.com.", "www.example.com.", "example.org.")
	if got := c.Flush(); got != len(keys) {
		t.Errorf("Flush = %d, want %d", got, len(keys))
	}
	if c.Len() != 0 {
		t.Errorf("Len %d after Flush, want 0", c.Len())
	}
	if got := c.Flush(); got != 0 {
		t.Errorf("a second Flush = %d, want 0", got)
	}
	// The cache works on afterwards.
	fill(t, c, now, "example.com.")
	if c.Len() != 4 {
		t.Errorf("Len %d after caching again, want 4", c.Len())
	}
}

// Flushes race with hits and inserts without a data race, and what was
// cached before a flush of its name and not again since is gone after it.
func TestFlushConcurrent(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := flushCache(t)
	fill(t, c, now, "stay.example.org.")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"a.example.com.", "b.example.com.", "example.com.", "c.example.net."}[i]
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := Key{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}
				c.Put(k, answerTo(name, dns.TypeA, false), now)
				c.Get(k, now)
			}
		}()
	}
	for range 200 {
		c.FlushName("example.com.")
		c.FlushName("example.net.")
	}
	c.Flush()
	close(stop)
	wg.Wait()
	// The writers are gone: a flush now leaves nothing of the zone.
	c.FlushName("example.com.")
	for _, name := range []string{"a.example.com.", "b.example.com.", "example.com."} {
		if _, ok := c.Get(Key{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}, now); ok {
			t.Errorf("%s still cached after FlushName", name)
		}
	}
}
