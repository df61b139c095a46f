package diagnose

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/miekg/dns"
)

// Evidence is one probe as a person would read it in a table.
type Evidence struct {
	Server string `json:"server"`
	Role   string `json:"role"` // upstream, alternate, root, authoritative
	// Zone is the zone whose server was asked, as the diagnosis knew it
	// when it asked ("." for the root); empty for resolvers and for a
	// server whose zone was not known (a parent asked for a DS).
	Zone    string   `json:"zone,omitempty"`
	Query   string   `json:"query"` // "www.example.com. A +norec +cd"
	Rcode   string   `json:"rcode"` // empty when nothing came back
	EDE     []uint16 `json:"ede,omitempty"`
	AA      bool     `json:"aa"`
	Answers int      `json:"answers"`
	RTTms   float64  `json:"rtt_ms"`
	Error   string   `json:"error,omitempty"`
}

// Verdict is the explanation of one failing name and type.
type Verdict struct {
	// ID names the verdict in the API; it stays the same while the verdict
	// lives (later failures only raise its count).
	ID      string `json:"id"`
	Name    string `json:"name"`
	Qtype   string `json:"qtype"`
	Rcode   string `json:"rcode"`
	Cause   Cause  `json:"cause"`
	Summary string `json:"summary"`
	Advice  string `json:"advice"`
	// EDE is nxray's own Extended DNS Error: the INFO-CODE it attaches,
	// with "nxray: <cause>: <summary>", to later failing answers for the
	// name. One code, or none for a cause that attaches none.
	EDE []uint16 `json:"ede,omitempty"`
	// UpstreamEDE are the Extended DNS Errors the upstream's failing answer
	// carried, at most maxUpstreamEDE, their text cut to maxEDEText bytes.
	UpstreamEDE []EDE      `json:"upstream_ede,omitempty"`
	Upstream    string     `json:"upstream"`
	FirstSeen   time.Time  `json:"first_seen"`
	LastSeen    time.Time  `json:"last_seen"`
	Count       int        `json:"count"`
	DurationMS  int64      `json:"duration_ms"`
	Evidence    []Evidence `json:"evidence"`
	// Zone is the zone the findings were about; it groups later failures.
	Zone string `json:"zone,omitempty"`
	// Grouped counts failures of other names under Zone, with the same
	// rcode, that were counted onto this verdict instead of diagnosed on
	// their own (Count includes them): a flood of random names is this one
	// verdict. GroupedNames are the first few of those names.
	Grouped      int      `json:"grouped,omitempty"`
	GroupedNames []string `json:"grouped_names,omitempty"`
}

// EDE is one Extended DNS Error (RFC 8914) as an answer carried it.
type EDE struct {
	Code uint16 `json:"code"` // INFO-CODE
	Text string `json:"text,omitempty"`
}

// Bounds on the upstream's EDEs a verdict keeps: an answer may carry many,
// and long, and verdicts are kept by the thousand.
const (
	maxUpstreamEDE = 8
	maxEDEText     = 300
)

// ownEDE is the EDE field of a verdict whose cause attaches code (noEDE:
// none).
func ownEDE(code int) []uint16 {
	if code == noEDE {
		return nil
	}
	return []uint16{uint16(code)}
}

// upstreamEDE bounds the upstream's EDEs for a verdict.
func upstreamEDE(es []EDE) []EDE {
	if len(es) == 0 {
		return nil
	}
	out := make([]EDE, 0, min(len(es), maxUpstreamEDE))
	for _, e := range es[:min(len(es), maxUpstreamEDE)] {
		out = append(out, EDE{Code: e.Code, Text: clipText(e.Text, maxEDEText)})
	}
	return out
}

// ednsErrors are the EDE options of m.
func ednsErrors(m *dns.Msg) []EDE {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	var out []EDE
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			out = append(out, EDE{Code: e.InfoCode, Text: e.ExtraText})
		}
	}
	return out
}

// codesOf are the INFO-CODEs of es, as the classifier reads them.
func codesOf(es []EDE) []uint16 {
	var out []uint16
	for _, e := range es {
		out = append(out, e.Code)
	}
	return out
}

// clipText cuts s to at most n bytes without splitting a UTF-8 sequence.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

type verdictKey struct {
	name  string
	qtype uint16
}

type stored struct {
	v       Verdict
	expires time.Time
}

// store keeps verdicts by name and type, bounded in number, each for ttl
// after it was last seen. Expiry is checked against an injected clock (the
// library's expirable LRU runs a goroutine that never stops and reads the
// wall clock). Safe for concurrent use: mu guards all of it, so the LRU is
// the library's unlocked one.
type store struct {
	mu  sync.Mutex // guards lru, whose entries are mutated in place, and ids
	lru *simplelru.LRU[verdictKey, *stored]
	ids map[string]verdictKey // the key of each stored verdict's ID
	// adds counts the verdicts added: a look-up that missed need not be
	// done again while it has not moved.
	adds atomic.Uint64
	ttl  time.Duration
	now  func() time.Time
}

func newStore(size int, ttl time.Duration, now func() time.Time) (*store, error) {
	s := &store{ids: map[string]verdictKey{}, ttl: ttl, now: now}
	// Called with s.mu held, by the Add or Remove that drops the entry.
	l, err := simplelru.NewLRU(size, func(_ verdictKey, e *stored) { delete(s.ids, e.v.ID) })
	if err != nil {
		return nil, err
	}
	s.lru = l
	return s, nil
}

// add stores e under k, in place of whatever k held. Called with s.mu held.
func (s *store) add(k verdictKey, e *stored) {
	if old, ok := s.lru.Peek(k); ok {
		delete(s.ids, old.v.ID) // replaced, not evicted: no callback
	}
	s.lru.Add(k, e)
	s.ids[e.v.ID] = k
	s.adds.Add(1)
}

func keyFor(name string, qtype uint16) verdictKey {
	return verdictKey{name: strings.ToLower(dns.Fqdn(name)), qtype: qtype}
}

func (s *store) put(v Verdict, qtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(keyFor(v.Name, qtype), &stored{v: v, expires: s.now().Add(s.ttl)})
}

// maxGroupedNames bounds the names a verdict keeps of those grouped onto it.
const maxGroupedNames = 5

// group counts a failure of name at at onto zv, the verdict of its zone,
// stored under key; own says name is zv's own name. A zone verdict evicted
// meanwhile is stored again; one replaced by a later verdict for the same
// name and type is left alone.
func (s *store) group(key verdictKey, zv Verdict, name string, own bool, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lru.Get(key)
	switch {
	case !ok || !at.Before(e.expires):
		e = &stored{v: zv}
		s.add(key, e)
	case e.v.ID != zv.ID:
		return
	}
	e.v.Count++
	e.v.LastSeen = at
	e.expires = at.Add(s.ttl)
	if !own {
		e.v.Grouped++
		if len(e.v.GroupedNames) < maxGroupedNames {
			// Appended, never changed in place: copies handed out share
			// the array up to their own length.
			e.v.GroupedNames = append(e.v.GroupedNames, name)
		}
	}
}

// get returns the live verdict for name and type.
func (s *store) get(name string, qtype uint16) (Verdict, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := keyFor(name, qtype)
	e, ok := s.lru.Get(k)
	if !ok {
		return Verdict{}, false
	}
	if !s.now().Before(e.expires) {
		s.lru.Remove(k)
		return Verdict{}, false
	}
	return e.v, true
}

// seen counts one more failure on a live verdict under k for the same
// rcode, and says whether there was one.
// A miss says whether the same look-up may hit later with no verdict added
// (revivable): the verdict had expired at at, and a failure from before at
// may yet extend it.
func (s *store) seen(k verdictKey, rcode string, at time.Time) (hit, revivable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lru.Get(k)
	if !ok || e.v.Rcode != rcode {
		return false, false
	}
	if !at.Before(e.expires) {
		return false, true
	}
	e.v.Count++
	e.v.LastSeen = at
	e.expires = at.Add(s.ttl)
	return true, false
}

// byID returns the live verdict with this ID.
func (s *store) byID(id string) (Verdict, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.ids[id]
	if !ok {
		return Verdict{}, false
	}
	e, ok := s.lru.Peek(k)
	if !ok || e.v.ID != id || !s.now().Before(e.expires) {
		return Verdict{}, false
	}
	return e.v, true
}

// all returns the live verdicts, newest (last seen) first.
func (s *store) all() []Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []Verdict
	for _, k := range s.lru.Keys() {
		if e, ok := s.lru.Peek(k); ok && now.Before(e.expires) {
			out = append(out, e.v)
		}
	}
	slices.SortStableFunc(out, func(a, b Verdict) int { return b.LastSeen.Compare(a.LastSeen) })
	return out
}
