package upstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnscache"
)

// Reply is an upstream's answer: unpacked, or, when it is plain enough to
// serve as it came (dnscache.PlainAnswer), its bytes, which the holder
// owns, and their layout.
type Reply struct {
	Msg    *dns.Msg
	Raw    []byte
	Layout dnscache.Layout
}

// OK says whether r holds an answer.
func (r Reply) OK() bool { return r.Msg != nil || r.Raw != nil }

// Rcode is the answer's rcode.
func (r Reply) Rcode() int {
	if r.Msg != nil {
		return r.Msg.Rcode
	}
	return int(r.Raw[3] & 0xF)
}

// Unpack makes r's message from its bytes, if it has none.
func (r *Reply) Unpack() error {
	if r.Msg != nil {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(r.Raw); err != nil {
		return err
	}
	r.Msg, r.Raw = m, nil
	return nil
}

// unsettled says whether settle may ask again: a truncated answer, or
// FORMERR (to a query with EDNS, from a server that predates it).
func (r Reply) unsettled() bool {
	return r.Msg != nil && (r.Msg.Truncated || r.Msg.Rcode == dns.RcodeFormatError)
}

// read turns b, an answer to the packed query q, into a Reply.
func read(b, q []byte) (Reply, error) {
	if l, ok := dnscache.PlainAnswer(b, q); ok {
		return Reply{Raw: b, Layout: l}, nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return Reply{}, fmt.Errorf("unpacking the answer: %w", err)
	}
	return Reply{Msg: m}, nil
}

// exchange sends the packed query q to m and returns the answer, after the
// retries settle makes. It gives up at deadline or once ctx is done.
func (m *member) exchange(ctx context.Context, q []byte, deadline time.Time) (Reply, error) {
	t := m.first()
	r, err := t.Exchange(ctx, q, deadline)
	if err != nil {
		return Reply{}, err
	}
	return m.settle(ctx, t, q, deadline, r)
}

// settle takes the answer r to q over t and asks again where the answer
// says to: over TCP when the UDP answer is truncated, and without EDNS,
// once, when the upstream answered the EDNS query FORMERR with no OPT
// record, as a server that predates EDNS does (RFC 6891 section 7).
func (m *member) settle(ctx context.Context, t Transport, q []byte, deadline time.Time, r Reply) (Reply, error) {
	if r.Msg == nil {
		return r, nil // plain: neither truncated nor FORMERR
	}
	if r.Msg.Truncated && t == m.udp {
		t = m.tcp
		var err error
		if r, err = t.Exchange(ctx, q, deadline); err != nil || r.Msg == nil {
			return r, err
		}
	}
	if r.Msg.Rcode == dns.RcodeFormatError && r.Msg.IsEdns0() == nil && binary.BigEndian.Uint16(q[10:]) > 0 {
		if plain, ok := withoutOPT(q); ok {
			r, err := t.Exchange(ctx, plain, deadline)
			if err != nil {
				return Reply{}, err
			}
			return m.settle(ctx, t, plain, deadline, r) // no OPT: no further retry
		}
	}
	return r, nil
}

// withoutOPT is the packed query q (a question, then its OPT record)
// without the OPT record.
func withoutOPT(q []byte) ([]byte, bool) {
	end, err := dnscache.SkipName(q, dnscache.HeaderLen)
	if err != nil || end+4 > len(q) {
		return nil, false
	}
	out := bytes.Clone(q[:end+4])
	binary.BigEndian.PutUint16(out[10:], 0)
	return out, true
}
