package realdns

import (
	"io"
	"net"
	"sync"
	"testing"
)

// blackHoles binds UDP and TCP port 53 on each of ips and reads whatever
// comes, never answering: a server behind a firewall that drops DNS, so a
// probe times out rather than being refused. They stop at t's cleanup,
// which waits for every goroutine they started.
func blackHoles(t *testing.T, ips []string) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards the two fields below
		conns  []net.Conn
		closed bool
		stop   []io.Closer
	)
	keep := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			c.Close()
			return false
		}
		conns = append(conns, c)
		return true
	}
	t.Cleanup(func() {
		for _, c := range stop {
			c.Close()
		}
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, "53")
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("black hole %s: %v", addr, err)
		}
		stop = append(stop, pc)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("black hole %s: %v", addr, err)
		}
		stop = append(stop, ln)
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65535)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if keep(c) {
					wg.Add(1)
					go func() {
						defer wg.Done()
						io.Copy(io.Discard, c) // until the peer or cleanup closes it
					}()
				}
			}
		}()
	}
}
