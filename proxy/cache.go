package proxy

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
)

// CacheConfig sizes the cache and bounds the TTLs it keeps answers for.
type CacheConfig struct {
	// Size is the number of answers kept; 0 disables the cache.
	Size int
	// NegativeSize is the number of negative answers (NXDOMAIN, NODATA,
	// SERVFAIL) kept, apart from the others, so that a flood of names that
	// do not exist cannot push out the answers that do; 0 means Size/4.
	NegativeSize int
	// MinTTL and MaxTTL bound how long a positive answer is kept.
	MinTTL, MaxTTL time.Duration
	// NegativeMaxTTL caps NXDOMAIN and NODATA lifetimes (RFC 2308 section 5).
	NegativeMaxTTL time.Duration
	// ServfailTTL is how long an upstream's SERVFAIL is kept; 0 keeps none.
	ServfailTTL time.Duration
}

// cacheKey tells answers apart. The name is lowercased: DNS names compare
// without case (RFC 4343), and the client's case is put back on the way out.
type cacheKey struct {
	name   string
	qtype  uint16
	qclass uint16
	flags  uint8
}

const (
	keyDO uint8 = 1 << iota
	keyCD
	keyEDNS
	keyRD
)

// keyOf builds the key of req; opt is req's OPT record or nil.
func keyOf(req *dns.Msg, opt *dns.OPT) cacheKey {
	q := req.Question[0]
	return cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass,
		flags: keyFlags(req.CheckingDisabled, req.RecursionDesired, opt != nil, opt != nil && opt.Do())}
}

// keyFlags are the query bits an answer depends on, as the cache key holds
// them; the fast path reads them from the packet.
func keyFlags(cd, rd, edns, do bool) uint8 {
	var f uint8
	if cd {
		f |= keyCD
	}
	if rd {
		f |= keyRD
	}
	if edns {
		f |= keyEDNS
		if do {
			f |= keyDO
		}
	}
	return f
}

// entry is one cached answer, kept packed with ID 0.
type entry struct {
	wire     []byte
	ttls     []ttlRef
	qnameLen int32 // int32s keep an entry at 112 bytes with soa
	rcode    int32
	stored   time.Time
	expires  time.Time
	// soa is the SOA an NXDOMAIN's failures report, unpacked when the
	// first is served (failureSOA); nil until then.
	soa atomic.Pointer[entrySOA]
}

// entrySOA is an entry's SOA record, and the offset of its TTL in the wire.
type entrySOA struct {
	rr     dns.SOA
	ttlOff int
}

// failureSOA is the SOA a failure served from e reports (Failure.SOA): for
// an NXDOMAIN, a copy of its SOA with the TTL in buf, e.wire as rendered
// for the client. The record is unpacked once, not on every hit.
func (e *entry) failureSOA(buf []byte) *dns.SOA {
	if e.rcode != dns.RcodeNameError {
		return nil
	}
	s := e.soa.Load()
	if s == nil {
		rr, off := wireSOA(e.wire)
		if rr == nil {
			return nil
		}
		s = &entrySOA{rr: *rr, ttlOff: off}
		e.soa.Store(s) // racing hits store the same
	}
	c := s.rr // its strings are never written: the copy may share them
	c.Hdr.Ttl = binary.BigEndian.Uint32(buf[s.ttlOff:])
	return &c
}

// render writes the answer for req into buf (len(buf) == len(e.wire)) as it
// should leave at time now: the client's ID, RD bit and name case, and TTLs
// counted down by the time spent in the cache.
func (e *entry) render(buf []byte, req *dns.Msg, now time.Time) {
	copy(buf, e.wire)
	e.stamp(buf, req.Id, req.RecursionDesired, now)
	copyCase(buf[headerLen:headerLen+int(e.qnameLen)], req.Question[0].Name)
}

// stamp patches buf, a copy of e.wire, with the query's ID and RD bit and
// TTLs counted down by the time spent in the cache.
func (e *entry) stamp(buf []byte, id uint16, rd bool, now time.Time) {
	patchHeader(buf, id, rd)
	age := uint32(now.Sub(e.stored) / time.Second)
	left := uint32((e.expires.Sub(now) + time.Second - 1) / time.Second)
	for _, r := range e.ttls {
		ttl := uint32(0)
		if r.ttl > age {
			ttl = r.ttl - age
		}
		binary.BigEndian.PutUint32(buf[r.off:], min(ttl, left))
	}
}

// patchHeader gives the packed answer buf the query's ID and RD bit.
func patchHeader(buf []byte, id uint16, rd bool) {
	binary.BigEndian.PutUint16(buf, id)
	if rd {
		buf[2] |= 0x01
	} else {
		buf[2] &^= 0x01
	}
}

// copyCase writes the letter case of name, the client's spelling, over the
// packed name wire, which the cache key guarantees is the same name. Names
// with escapes (\. or \065) are packed the slow way; wire is restored if
// that fails.
func copyCase(wire []byte, name string) {
	if strings.IndexByte(name, '\\') < 0 {
		i, j := 0, 0
		for i < len(wire) && wire[i] != 0 {
			n := int(wire[i])
			i++
			if i+n > len(wire) || j+n > len(name) {
				return
			}
			copy(wire[i:i+n], name[j:j+n])
			i += n
			j += n + 1 // the dot
		}
		return
	}
	var packed [256]byte
	if n, err := dns.PackDomainName(name, packed[:], 0, nil, false); err == nil && n == len(wire) {
		copy(wire, packed[:n])
	}
}

const cacheShards = 16

// cache holds packed answers in two LRUs: one for answers with records, one
// for negative answers. A random-subdomain flood churns only the second.
//
// While caching one more negative answer would push a live one out of the
// second (a flood of names that do not exist fills it), a negative answer is
// cached only when the doorkeeper saw its key before: asked twice, not once.
// A flood's names are asked once, so they neither evict the negative answers
// clients keep asking for (a popular name's missing AAAA) nor cost the
// insert and the eviction.
type cache struct {
	cfg      CacheConfig
	seed     maphash.Seed
	pos, neg lruShards
	negCap   int                                    // entries per shard of neg
	pressed  [cacheShards]atomic.Pointer[time.Time] // per shard of neg: under pressure until then
	door     [doorSize]atomic.Uint32                // fingerprints of negative keys seen once
	skipped  atomic.Uint64                          // negative answers the doorkeeper kept out
}

const (
	// doorSize is the doorkeeper's slots: during a 2000 QPS flood a slot is
	// overwritten every 30 s or so, so a name asked again within seconds
	// is let in.
	doorSize = 1 << 16
	// pressHold is how long neg counts as under pressure after an insert
	// would have evicted a live answer; then the next insert looks again.
	pressHold = 10 * time.Second
)

// lruShards is a sharded LRU. Sharding keeps the lock that every hit takes
// (an LRU moves the entry to the front) from being one lock for every core.
type lruShards []*lru.Cache[cacheKey, *entry]

func newShards(size int) (lruShards, error) {
	n := cacheShards
	if size < 4*n {
		n = 1
	}
	s := make(lruShards, n)
	for i := range s {
		l, err := lru.New[cacheKey, *entry]((size + n - 1) / n)
		if err != nil {
			return nil, err
		}
		s[i] = l
	}
	return s, nil
}

// newCache returns nil when cfg.Size is 0: no cache.
func newCache(cfg CacheConfig) (*cache, error) {
	if cfg.Size <= 0 {
		return nil, nil
	}
	if cfg.NegativeSize <= 0 {
		cfg.NegativeSize = max(cfg.Size/4, 1)
	}
	c := &cache{cfg: cfg, seed: maphash.MakeSeed()}
	var err error
	if c.pos, err = newShards(cfg.Size); err != nil {
		return nil, err
	}
	if c.neg, err = newShards(cfg.NegativeSize); err != nil {
		return nil, err
	}
	c.negCap = (cfg.NegativeSize + len(c.neg) - 1) / len(c.neg)
	return c, nil
}

func (c *cache) shard(s lruShards, k cacheKey) *lru.Cache[cacheKey, *entry] {
	return s[c.shardOf(s, k)]
}

func (c *cache) shardOf(s lruShards, k cacheKey) int {
	if len(s) == 1 {
		return 0
	}
	return int(maphash.String(c.seed, k.name) % uint64(len(s)))
}

// admit says whether a negative answer for k may go into neg's shard i at
// time now: always, unless that would push out a live answer; then only if
// k was seen before.
func (c *cache) admit(i int, k cacheKey, now time.Time) bool {
	l := c.neg[i]
	if until := c.pressed[i].Load(); until == nil || !now.Before(*until) {
		if l.Len() < c.negCap {
			return true
		}
		if _, oldest, ok := l.GetOldest(); !ok || !now.Before(oldest.expires) {
			return true // what goes is already dead
		}
		until := now.Add(pressHold)
		c.pressed[i].Store(&until)
	}
	// Every bit of h depends on all of k: the slot on one part, the
	// fingerprint on another, so a name's types have slots of their own.
	h := maphash.Comparable(c.seed, k)
	slot, fp := &c.door[h%doorSize], uint32(h>>32)|1
	if slot.Load() == fp {
		return true
	}
	slot.Store(fp)
	c.skipped.Add(1)
	return false
}

// get returns the live entry for k, if any.
func (c *cache) get(k cacheKey, now time.Time) (*entry, bool) {
	if e, ok := c.getFrom(c.pos, k, now); ok {
		return e, true
	}
	return c.getFrom(c.neg, k, now)
}

func (c *cache) getFrom(s lruShards, k cacheKey, now time.Time) (*entry, bool) {
	l := c.shard(s, k)
	e, ok := l.Get(k)
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		l.Remove(k)
		return nil, false
	}
	return e, true
}

// put stores resp under k if it may be cached, and returns the entry it
// stored, or nil. resp is not modified.
func (c *cache) put(k cacheKey, resp *dns.Msg, now time.Time) *entry {
	if resp.Truncated || !cacheable(resp.Rcode) {
		return nil // not worth packing
	}
	m := *resp // shallow: only the header changes
	m.Id = 0
	m.Compress = true
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	packed, err := m.PackBuffer(*bp)
	if err != nil {
		return nil
	}
	l, err := scanMsg(packed)
	if err != nil {
		return nil
	}
	return c.putWire(k, packed, &l, now, false)
}

func cacheable(rcode int) bool {
	return rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError || rcode == dns.RcodeServerFailure
}

// putWire stores the packed answer b, ID 0, of layout l, under k if it may
// be cached, and returns the entry it stored, or nil. The entry keeps b if
// own, else a copy of it.
func (c *cache) putWire(k cacheKey, b []byte, l *layout, now time.Time, own bool) *entry {
	ttl := c.lifetime(b, l)
	if ttl <= 0 {
		return nil
	}
	rcode := int(b[3] & 0xF)
	ni := c.shardOf(c.neg, k)
	to, other := c.shard(c.pos, k), c.neg[ni]
	if rcode != dns.RcodeSuccess || binary.BigEndian.Uint16(b[6:]) == 0 {
		to, other = other, to
		if !c.admit(ni, k, now) {
			// pos holds no live answer for k, or k would not have been a
			// miss; leaving one that two racing misses left is TTL-legal.
			return nil
		}
	}
	if !own {
		b = bytes.Clone(b)
	}
	e := &entry{wire: b, ttls: l.refs, qnameLen: int32(l.qnameLen), rcode: int32(rcode), stored: now, expires: now.Add(ttl)}
	other.Remove(k) // the name's earlier answer, if it was of the other kind
	to.Add(k, e)
	return e
}

// lifetime is how long the packed answer b, of layout l, may be served from
// the cache; 0 means never. An OPT record's extended RCODE is not cached.
func (c *cache) lifetime(b []byte, l *layout) time.Duration {
	if b[2]&0x02 != 0 || binary.BigEndian.Uint16(b[4:]) != 1 || (l.opt >= 0 && extRcode(b, l.opt) != 0) {
		return 0 // truncated, not one question, or an extended RCODE
	}
	switch int(b[3] & 0xF) {
	case dns.RcodeSuccess:
		if binary.BigEndian.Uint16(b[6:]) == 0 {
			return c.negative(l)
		}
		if len(l.refs) == 0 {
			return 0
		}
		lowest := l.refs[0].ttl
		for _, r := range l.refs[1:] {
			lowest = min(lowest, r.ttl)
		}
		return min(max(time.Duration(lowest)*time.Second, c.cfg.MinTTL), c.cfg.MaxTTL)
	case dns.RcodeNameError:
		return c.negative(l)
	case dns.RcodeServerFailure:
		return c.cfg.ServfailTTL
	}
	return 0
}

// negative applies RFC 2308 section 5: a negative answer lives as long as
// the smaller of its SOA's TTL and MINIMUM, and is not cached without a SOA.
func (c *cache) negative(l *layout) time.Duration {
	if !l.soa {
		return 0
	}
	return min(time.Duration(min(l.soaTTL, l.soaMin))*time.Second, c.cfg.NegativeMaxTTL)
}

// extRcode is the upper 8 bits of the RCODE, held by the OPT record at off.
func extRcode(b []byte, off int) byte {
	n, err := skipName(b, off)
	if err != nil || n+5 > len(b) {
		return 0xFF
	}
	return b[n+4]
}

// len counts the entries held, live or expired.
func (c *cache) len() int {
	n := 0
	for _, s := range c.pos {
		n += s.Len()
	}
	for _, s := range c.neg {
		n += s.Len()
	}
	return n
}
