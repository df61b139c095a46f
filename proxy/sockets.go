package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// maxIdleUDP bounds the UDP sockets kept open per upstream between queries.
// Reusing a socket saves a socket, connect and close per query; each one
// still has its own random source port, and every query a random ID.
const maxIdleUDP = 64

// dial returns a socket to the upstream with deadline set on it: a kept
// UDP socket if there is one, else a new one.
func (u *upstream) dial(ctx context.Context, network string, deadline time.Time) (net.Conn, error) {
	if network == "udp" {
		u.idleMu.Lock()
		if n := len(u.idle); n > 0 {
			c := u.idle[n-1]
			u.idle = u.idle[:n-1]
			u.idleMu.Unlock()
			if !u.sockets.arm(c, deadline, false) {
				u.sockets.close(c)
				return nil, errInterrupted
			}
			return c, nil
		}
		u.idleMu.Unlock()
	}
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(ctx, network, u.Addr)
	if err != nil {
		return nil, err
	}
	if !u.sockets.arm(c, deadline, true) {
		c.Close()
		return nil, errInterrupted
	}
	return c, nil
}

// errInterrupted is a try cut short because the server is shutting down.
var errInterrupted = errors.New("interrupted: nxray is shutting down")

// release keeps a UDP socket that finished a clean exchange for reuse;
// anything else is closed.
func (u *upstream) release(c net.Conn, network string, clean bool) {
	if network == "udp" && clean {
		u.idleMu.Lock()
		if !u.closed && len(u.idle) < maxIdleUDP {
			u.idle = append(u.idle, c)
			u.idleMu.Unlock()
			return
		}
		u.idleMu.Unlock()
	}
	u.sockets.close(c)
}

// closeIdle closes the kept sockets; later releases close theirs.
func (u *upstream) closeIdle() {
	u.idleMu.Lock()
	idle := u.idle
	u.idle, u.closed = nil, true
	u.idleMu.Unlock()
	for _, c := range idle {
		u.sockets.close(c)
	}
}

// sockets is the set of upstream sockets a Server has open, kept so that
// shutdown can wake every try waiting on one, in whichever pool (a reload
// leaves the old pool's tries running). Tries are not each watched by a
// context for this: that costs a registration per forwarded query, and
// sockets are dialed far less often than used.
type sockets struct {
	mu          sync.Mutex
	open        map[net.Conn]struct{}
	interrupted bool
}

// arm sets deadline on c, registering c first if it is new. It fails once
// interrupt has run. Both happen under one lock, so an interrupt cannot
// fall between a socket's registration and its deadline and be undone.
func (s *sockets) arm(c net.Conn, deadline time.Time, isNew bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interrupted {
		return false
	}
	if isNew {
		if s.open == nil {
			s.open = make(map[net.Conn]struct{})
		}
		s.open[c] = struct{}{}
	}
	c.SetDeadline(deadline)
	return true
}

// close unregisters and closes c.
func (s *sockets) close(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	c.Close()
}

// interrupt ends every try in flight at once, kept sockets included, and
// fails those that follow: the server is shutting down and its drain
// deadline has passed.
func (s *sockets) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted = true
	for c := range s.open {
		c.SetDeadline(time.Unix(1, 0))
	}
}
