package upstream

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestCancelEndsEveryExchange: cancelling the context (shutdown past its
// drain deadline, a parallel race lost) ends every exchange waiting at
// once, whatever it was doing; and Close then leaves no socket open and no
// responder running. Many rounds, to land the cancel in each step.
func TestCancelEndsEveryExchange(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var silent atomic.Bool
	var answered atomic.Int64
	busy := make(chan struct{}, 1)
	go func() { // answers each query with itself as a response, until silent
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if !silent.Load() {
				buf[2] |= 0x80
				pc.WriteTo(buf[:n], from)
				if answered.Add(1)%200 == 0 {
					select {
					case busy <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	for round := range 200 {
		silent.Store(false)
		select { // a signal left from the last round says nothing of this one
		case <-busy:
		default:
		}
		tr := NewUDP(context.Background(), pc.LocalAddr().String(), new(atomic.Uint64))
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := packed(t, "x.example.test.", dns.TypeA)
				for {
					if _, err := tr.Exchange(ctx, q, time.Now().Add(5*time.Second)); err != nil {
						return
					}
				}
			}()
		}
		select {
		case <-busy: // the exchanges are under way
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream answered no queries")
		}
		silent.Store(true)
		start := time.Now()
		cancel()
		wg.Wait()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("round %d: exchanges ran on %v after the cancel", round, d)
		}
		tr.Close()
		for _, s := range tr.cur {
			if s != nil {
				t.Fatalf("round %d: a socket still in a slot after Close", round)
			}
		}
	}
}

// batch is an upstream on loopback that answers its queries in one burst.
type batch struct {
	addr string
	done chan struct{}
	from map[string]int // queries per source port
}

// batchUpstream starts a batch that reads n queries, then answers them all,
// back to back, with what answer makes of each.
func batchUpstream(t *testing.T, n int, answer func(q *dns.Msg) *dns.Msg) *batch {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &batch{addr: pc.LocalAddr().String(), done: make(chan struct{}), from: map[string]int{}}
	go func() {
		defer close(b.done)
		type query struct {
			m    *dns.Msg
			from net.Addr
		}
		var qs []query
		buf := make([]byte, 4096)
		for len(qs) < n {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:k]) == nil {
				qs = append(qs, query{m, from})
				b.from[from.String()]++
			}
		}
		for _, q := range qs {
			w, _ := answer(q.m).Pack()
			pc.WriteTo(w, q.from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-b.done })
	return b
}

// ports waits until b has answered and returns how many queries came from
// each source port.
func (b *batch) ports() map[string]int {
	<-b.done
	return b.from
}
