package dnscache

import (
	"strings"

	"github.com/miekg/dns"
)

// This file empties the cache on request: all of it, or one name and every
// name under it. After a fix upstream, a person should not have to wait out
// a negative TTL at nxray.

// Flush removes every entry, positive and negative, and returns how many
// went. An answer cached while it runs may stay: it is newer than the flush.
func (c *Cache) Flush() int {
	n := 0
	for _, s := range [...]lruShards{c.pos, c.neg} {
		for _, l := range s {
			for _, k := range l.Keys() {
				if l.Remove(k) {
					n++
				}
			}
		}
	}
	for i := range c.pressed {
		c.pressed[i].Store(nil) // neg is empty: no live answer to protect
	}
	return n
}

// FlushName removes the entries of name and of every name under it (a
// zone), of every type, class and flag, positive and negative, and returns
// how many went. name is compared without case; "." flushes everything.
func (c *Cache) FlushName(name string) int {
	name = strings.ToLower(dns.Fqdn(name))
	if name == "." {
		return c.Flush()
	}
	n := 0
	for _, s := range [...]lruShards{c.pos, c.neg} {
		for _, l := range s {
			for _, k := range l.Keys() {
				if under(k.Name, name) && l.Remove(k) {
					n++
				}
			}
		}
	}
	return n
}

// under says whether the cache key name k is zone or a name under it; both
// are lowercase and fully qualified. A dot escaped within a label (a\.b.)
// is read properly, as the routing does.
func under(k, zone string) bool {
	if !strings.HasSuffix(k, zone) {
		return false
	}
	if n := len(k) - len(zone); n == 0 || (k[n-1] == '.' && (n < 2 || k[n-2] != '\\')) {
		return true
	}
	return dns.IsSubDomain(zone, k)
}
