package dnscache

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
)

// Config sizes the cache and bounds the TTLs it keeps answers for.
type Config struct {
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

// Key tells answers apart. The name is lowercased: DNS names compare
// without case (RFC 4343), and the client's case is put back on the way out.
type Key struct {
	Name   string
	Qtype  uint16
	Qclass uint16
	Flags  uint8
}

const (
	keyDO uint8 = 1 << iota
	keyCD
	keyEDNS
	keyRD
)

// KeyOf builds the key of req; opt is req's OPT record or nil.
func KeyOf(req *dns.Msg, opt *dns.OPT) Key {
	q := req.Question[0]
	return Key{Name: strings.ToLower(q.Name), Qtype: q.Qtype, Qclass: q.Qclass,
		Flags: KeyFlags(req.CheckingDisabled, req.RecursionDesired, opt != nil, opt != nil && opt.Do())}
}

// KeyFlags are the query bits an answer depends on, as the cache key holds
// them; ParseQuery reads them from the packet.
func KeyFlags(cd, rd, edns, do bool) uint8 {
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

const cacheShards = 16

// Cache holds packed answers in two LRUs: one for answers with records, one
// for negative answers. A random-subdomain flood churns only the second.
//
// While caching one more negative answer would push a live one out of the
// second (a flood of names that do not exist fills it), a negative answer is
// cached only when the doorkeeper saw its key before: asked twice, not once.
// A flood's names are asked once, so they neither evict the negative answers
// clients keep asking for (a popular name's missing AAAA) nor cost the
// insert and the eviction.
type Cache struct {
	cfg      Config
	seed     maphash.Seed
	pos, neg lruShards
	negCap   int                                    // entries per shard of neg
	pressed  [cacheShards]atomic.Pointer[time.Time] // per shard of neg: under pressure until then
	door     [doorSize]atomic.Uint32                // fingerprints of negative keys seen once
	skipped  atomic.Uint64                          // negative answers the doorkeeper kept out
}

// packPool holds buffers for packing answers into the cache.
var packPool = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

// Skipped counts the negative answers the doorkeeper kept out.
func (c *Cache) Skipped() uint64 { return c.skipped.Load() }

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
// (an LRU moves the Entry to the front) from being one lock for every core.
type lruShards []*lru.Cache[Key, *Entry]

func newShards(size int) (lruShards, error) {
	n := cacheShards
	if size < 4*n {
		n = 1
	}
	s := make(lruShards, n)
	for i := range s {
		l, err := lru.New[Key, *Entry]((size + n - 1) / n)
		if err != nil {
			return nil, err
		}
		s[i] = l
	}
	return s, nil
}

// New returns nil when cfg.Size is 0: no cache.
func New(cfg Config) (*Cache, error) {
	if cfg.Size <= 0 {
		return nil, nil
	}
	if cfg.NegativeSize <= 0 {
		cfg.NegativeSize = max(cfg.Size/4, 1)
	}
	c := &Cache{cfg: cfg, seed: maphash.MakeSeed()}
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

func (c *Cache) shard(s lruShards, k Key) *lru.Cache[Key, *Entry] {
	return s[c.shardOf(s, k)]
}

func (c *Cache) shardOf(s lruShards, k Key) int {
	if len(s) == 1 {
		return 0
	}
	return int(maphash.String(c.seed, k.Name) % uint64(len(s)))
}

// admit says whether a negative answer for k may go into neg's shard i at
// time now: always, unless that would push out a live answer; then only if
// k was seen before.
func (c *Cache) admit(i int, k Key, now time.Time) bool {
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

// Get returns the live Entry for k, if any.
func (c *Cache) Get(k Key, now time.Time) (*Entry, bool) {
	if e, ok := c.getFrom(c.pos, k, now); ok {
		return e, true
	}
	return c.getFrom(c.neg, k, now)
}

func (c *Cache) getFrom(s lruShards, k Key, now time.Time) (*Entry, bool) {
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

// Put stores resp under k if it may be cached, and returns the Entry it
// stored, or nil. resp is not modified.
func (c *Cache) Put(k Key, resp *dns.Msg, now time.Time) *Entry {
	if resp.Truncated || !cacheable(resp.Rcode) {
		return nil // not worth packing
	}
	m := *resp // shallow: only the header changes
	m.Id = 0
	m.Compress = true
	bp := packPool.Get().(*[]byte)
	defer packPool.Put(bp)
	packed, err := m.PackBuffer(*bp)
	if err != nil {
		return nil
	}
	l, err := Scan(packed)
	if err != nil {
		return nil
	}
	return c.PutWire(k, packed, &l, now, false)
}

func cacheable(rcode int) bool {
	return rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError || rcode == dns.RcodeServerFailure
}

// PutWire stores the packed answer b, ID 0, of Layout l, under k if it may
// be cached, and returns the Entry it stored, or nil. The Entry keeps b if
// own, else a copy of it.
func (c *Cache) PutWire(k Key, b []byte, l *Layout, now time.Time, own bool) *Entry {
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
	e := &Entry{wire: b, ttls: l.refs, qnameLen: int32(l.qnameLen), rcode: int32(rcode), stored: now, expires: now.Add(ttl)}
	other.Remove(k) // the name's earlier answer, if it was of the other kind
	to.Add(k, e)
	return e
}

// lifetime is how long the packed answer b, of Layout l, may be served from
// the cache; 0 means never. An OPT record's extended RCODE is not cached.
func (c *Cache) lifetime(b []byte, l *Layout) time.Duration {
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
func (c *Cache) negative(l *Layout) time.Duration {
	if !l.soa {
		return 0
	}
	return min(time.Duration(min(l.soaTTL, l.soaMin))*time.Second, c.cfg.NegativeMaxTTL)
}

// extRcode is the upper 8 bits of the RCODE, held by the OPT record at off.
func extRcode(b []byte, off int) byte {
	n, err := SkipName(b, off)
	if err != nil || n+5 > len(b) {
		return 0xFF
	}
	return b[n+4]
}

// Len counts the entries held, live or expired.
func (c *Cache) Len() int {
	n := 0
	for _, s := range c.pos {
		n += s.Len()
	}
	for _, s := range c.neg {
		n += s.Len()
	}
	return n
}
