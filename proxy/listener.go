package proxy

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// cappedListener holds at most max open connections, and at most perClient
// from one client address, so that one client cannot take them all. One
// past either cap is accepted and closed at once, so the client learns
// straight away instead of waiting in the kernel's backlog, and counted in
// rejected.
type cappedListener struct {
	net.Listener
	max, perClient int
	rejected       *atomic.Uint64

	mu      sync.Mutex // guards the fields below
	open    int
	clients map[netip.Addr]int // open connections by client address; never zero
}

func newCappedListener(l net.Listener, max, perClient int, rejected *atomic.Uint64) *cappedListener {
	return &cappedListener{Listener: l, max: max, perClient: perClient, rejected: rejected,
		clients: make(map[netip.Addr]int)}
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := remoteIP(c)
		if !l.take(client) {
			l.rejected.Add(1)
			c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l, client: client}, nil
	}
}

// take counts a connection from client, unless that puts it or the
// listener over its cap.
func (l *cappedListener) take(client netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.max || l.clients[client] >= l.perClient {
		return false
	}
	l.open++
	l.clients[client]++
	return true
}

func (l *cappedListener) give(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.clients[client]--; l.clients[client] == 0 {
		delete(l.clients, client)
	}
}

// remoteIP is c's client address, an IPv4-mapped IPv6 address as IPv4, so
// that a client is one client on a dual-stack socket.
func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// countedConn gives its place back once, on the first Close.
type countedConn struct {
	net.Conn
	once   sync.Once
	l      *cappedListener
	client netip.Addr
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.give(c.client) })
	return c.Conn.Close()
}
