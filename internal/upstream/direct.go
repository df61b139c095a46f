package upstream

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Direct asks single questions of encrypted resolvers (tls:// and
// https:// upstreams), each named by its String(), over the same
// transports a Pool uses: for the diagnosis, which probes them as it
// probes plain resolvers by IP:port. Safe for concurrent use.
type Direct struct {
	ts         map[string]Transport // by Upstream.String(); never changes
	mismatched atomic.Uint64
}

// directTimeout bounds a question whose ctx has no deadline.
const directTimeout = 5 * time.Second

// NewDirect returns a Direct for the tls:// and https:// upstreams of ups
// (others are left out). When ctx ends, every question in flight ends.
// Nothing is dialed until a question needs it.
func NewDirect(ctx context.Context, ups []Upstream) *Direct {
	d := &Direct{ts: map[string]Transport{}}
	for _, u := range ups {
		if _, dup := d.ts[u.String()]; dup {
			continue
		}
		switch u.Net {
		case "tls":
			d.ts[u.String()] = NewDoT(ctx, u.Addr, u.ServerName, u.TLS, u.IdleTimeout, &d.mismatched)
		case "https":
			d.ts[u.String()] = NewDoH(u.Addr, u.ServerName, u.Path, u.GET, u.TLS, u.IdleTimeout, &d.mismatched)
		}
	}
	return d
}

// ErrUnknownServer is a question for a server Direct was not built with.
var ErrUnknownServer = errors.New("not an encrypted upstream nxray was configured with")

// Exchange sends q to server and returns its answer, by ctx's deadline
// (or 5s). q is not changed.
func (d *Direct) Exchange(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	t := d.ts[server]
	if t == nil {
		return nil, ErrUnknownServer
	}
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(directTimeout)
	}
	r, err := t.Exchange(ctx, wire, deadline)
	if err != nil {
		return nil, err
	}
	if err := r.Unpack(); err != nil {
		return nil, err
	}
	return r.Msg, nil
}

// Close closes every transport: their idle connections at once, the
// others once their questions are done.
func (d *Direct) Close() {
	for _, t := range d.ts {
		t.Close()
	}
}
