package proxy

import (
	"net"
	"sync"
	"sync/atomic"
)

// cappedListener holds at most max open connections. One past the cap is
// accepted and closed at once, so the client learns straight away instead
// of waiting in the kernel's backlog.
type cappedListener struct {
	net.Listener
	open     atomic.Int64
	max      int64
	rejected *atomic.Uint64
}

func newCappedListener(l net.Listener, max int, rejected *atomic.Uint64) *cappedListener {
	return &cappedListener{Listener: l, max: int64(max), rejected: rejected}
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.rejected.Add(1)
			c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once sync.Once
	l    *cappedListener
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
