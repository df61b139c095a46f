package upstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"sync"

	"github.com/nxray/nxray/internal/sockopt"
)

// udpSock is one of a transport's sockets.
type udpSock struct {
	t    *udpTransport
	slot int
	conn *net.UDPConn
	rd   *sockopt.UDP // the responder's reads: raw system calls (sockopt.UDP says why)
	wmu  sync.Mutex   // guards wr
	wr   *sockopt.UDP // writes, from whichever goroutine sends

	mu      sync.Mutex // guards the rest
	waiting map[uint16]*waiter
	late    map[uint16]bool // IDs of queries that gave up waiting: an answer to one is no mismatch
	uses    int
	retired bool  // takes no more queries; closes once none is waiting
	err     error // the responder has stopped on it
}

// write sends q on s.
func (s *udpSock) write(q []byte) error {
	if s.wr == nil {
		_, err := s.conn.Write(q)
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.wr.Write(q)
}

// retire takes s out of its slot; called with s.mu held.
func (s *udpSock) retire() {
	s.retired = true
	s.t.mu.Lock()
	if s.t.cur[s.slot] == s {
		s.t.cur[s.slot] = nil
	}
	s.t.mu.Unlock()
}

// take takes w off s and says whether it was there: whoever takes it calls
// its done. late notes that its answer may still come. A retired socket
// with nothing left waiting is closed.
func (s *udpSock) take(w *waiter, late bool) bool {
	s.mu.Lock()
	mine := s.waiting[w.id] == w
	if mine {
		delete(s.waiting, w.id)
		if late {
			s.late[w.id] = true
		}
	}
	idle := s.retired && len(s.waiting) == 0
	s.mu.Unlock()
	if mine {
		w.timer.Stop()
	}
	if idle {
		s.close()
	}
	return mine
}

// close closes s's socket: its responder leaves.
func (s *udpSock) close() {
	s.t.mu.Lock()
	delete(s.t.open, s)
	s.t.mu.Unlock()
	s.conn.Close()
}

// respond reads answers until the socket closes or fails, handing each to
// the query it answers. Anything else is counted and dropped.
func (s *udpSock) respond() {
	buf := make([]byte, 65535)
	for {
		n, err := s.read(buf)
		if err != nil {
			s.fail(err)
			return
		}
		if n < 2 {
			s.t.mismatched.Add(1)
			continue
		}
		id := binary.BigEndian.Uint16(buf)
		s.mu.Lock()
		w := s.waiting[id]
		ok := w != nil && Matches(buf[:n], w.q)
		late := w == nil && s.late[id]
		s.mu.Unlock()
		var r Reply
		if ok {
			// Read outside the lock; w.q stays as it is while w waits.
			r, err = read(bytes.Clone(buf[:n]), w.q)
			ok = err == nil
		}
		if !ok {
			if !late {
				s.t.mismatched.Add(1) // spoofed or broken: the query waits on
			}
			continue
		}
		s.mu.Lock()
		mine := s.waiting[id] == w // it may have timed out meanwhile
		if mine {
			delete(s.waiting, id)
		}
		idle := s.retired && len(s.waiting) == 0
		s.mu.Unlock()
		if mine {
			w.timer.Stop()
			w.done(r, nil)
		}
		if idle {
			s.close()
			return
		}
	}
}

// read reads the next answer into buf.
func (s *udpSock) read(buf []byte) (int, error) {
	if s.rd == nil {
		return s.conn.Read(buf)
	}
	n, _, err := s.rd.ReadFrom(buf)
	return n, err
}

// fail ends every query waiting on s with err and takes s out of its slot.
func (s *udpSock) fail(err error) {
	if errors.Is(err, net.ErrClosed) {
		err = errClosed
	}
	s.t.mu.Lock()
	if s.t.aborted != nil {
		err = s.t.aborted
	}
	s.t.mu.Unlock()
	s.mu.Lock()
	s.err = err
	if !s.retired {
		s.retire()
	}
	waiting := s.waiting
	s.waiting = map[uint16]*waiter{}
	s.mu.Unlock()
	s.close()
	for _, w := range waiting {
		w.timer.Stop()
		w.done(Reply{}, err)
	}
}
