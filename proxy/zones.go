package proxy

import (
	"strings"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/upstream"
)

// zonePool is the pool of one forward zone.
type zonePool struct {
	zone string // lowercase, fully qualified
	pool *upstream.Pool
}

// poolFor is the pool that serves name, a cache key's name (lowercase,
// fully qualified, in presentation form): the longest forward zone it is at
// or under, else the default pool. Without forward zones it costs nothing.
func (rt *routing) poolFor(name string) *upstream.Pool {
	for i := range rt.zones {
		z := rt.zones[i].zone
		if !strings.HasSuffix(name, z) {
			continue
		}
		if n := len(name) - len(z); n == 0 || (name[n-1] == '.' && (n < 2 || name[n-2] != '\\')) {
			return rt.zones[i].pool
		}
		if dns.IsSubDomain(z, name) { // a dot escaped within a label, as in a\.b.zone.: read it properly
			return rt.zones[i].pool
		}
	}
	return rt.pool
}

// close closes every pool of the routing.
func (rt *routing) close() {
	rt.pool.Close()
	for _, z := range rt.zones {
		z.pool.Close()
	}
}
