package history

import (
	"cmp"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nxray/nxray/proxy"
)

// The query log folds before it writes. Queries alike in all the log keeps
// but time and duration (client, name, type, rcode, cached, upstream) and
// asked within the same second share one row: a count, the first and last
// time, the longest duration. A resolver's load is a few names asked again
// and again; a row per query would spend most of a core in SQLite at the
// rates a cache answers, a row per name a second next to nothing.
//
// Rows are also capped between two writes: MaxRate rows of successes and
// as many of failures (NXDOMAIN, SERVFAIL, REFUSED) a second, so that a
// flood of distinct names costs no more, and no flood of successes
// crowds out the failures the log is read for. A query beyond the cap is
// counted in a row under its parent's wildcard (rnd-81.example.com. under
// *.example.com.), so that a random-subdomain flood shows as what it is,
// and the counts per client stay true; MaxRate such rows at most, and
// queries beyond those are dropped and counted.
//
// LogQuery only takes a shard's lock, looks its key up and adds: no
// channel, no goroutine woken. The writer takes the rows of the seconds
// that ended, just after each second (writer.go, nextFlush).

// foldShards spreads LogQuery's callers over locks by name.
const foldShards = 8

// foldKey is what queries folded into one row share.
type foldKey struct {
	sec      int64 // Unix second
	client   netip.Addr
	name     string
	upstream string
	rcode    int
	qtype    uint16
	cached   bool
}

// foldRow is one query log row: n queries alike.
type foldRow struct {
	key         foldKey
	first, last int64 // Unix nanoseconds
	n           int64
	seq         uint64        // the order rows were begun in, which IDs follow
	dur         time.Duration // the longest of them
}

// shard is a part of the rows folded since the last write.
type shard struct {
	mu    sync.Mutex
	index map[foldKey]int
	rows  []foldRow
	_     [64]byte // apart from the next shard's lock
}

// Kinds of rows, each capped apart.
const (
	kindOK     = iota // successes
	kindFailed        // NXDOMAIN, SERVFAIL, REFUSED
	kindOver          // wildcards of queries over the other two caps
	numKinds
)

// folder is what LogQuery folds queries into until the writer takes them.
type folder struct {
	seed   maphash.Seed
	max    int64                  // rows of each kind between two writes
	taken  [numKinds]atomic.Int64 // rows of each kind begun since
	seq    atomic.Uint64
	shards [foldShards]shard
}

// newFolder caps each kind at max rows between two writes (a second
// apart, but for tests).
func newFolder(max int) *folder {
	f := &folder{seed: maphash.MakeSeed(), max: int64(max)}
	for i := range f.shards {
		f.shards[i].index = map[foldKey]int{}
	}
	return f
}

// add folds q in; false when it is over every cap and dropped.
func (f *folder) add(q proxy.Query) bool {
	k := foldKey{sec: q.Time.Unix(), client: q.Client, name: q.Name, upstream: q.Upstream, rcode: q.Rcode,
		qtype: q.Qtype, cached: q.Cached}
	kind := kindOK
	if failed(q.Rcode) {
		kind = kindFailed
	}
	if f.fold(k, q, kind) {
		return true
	}
	k.name = wildcard(q.Name)
	return f.fold(k, q, kindOver)
}

// wildcard is the name a query over the cap is counted under: "*." and
// its name's parent.
func wildcard(name string) string {
	_, parent, _ := strings.Cut(name, ".")
	return "*." + parent
}

// fold adds q to k's row, or begins the row if kind's cap allows.
func (f *folder) fold(k foldKey, q proxy.Query, kind int) bool {
	t := q.Time.UnixNano()
	sh := &f.shards[maphash.String(f.seed, k.name)%foldShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.index[k]; ok {
		r := &sh.rows[i]
		r.n++
		r.first, r.last, r.dur = min(r.first, t), max(r.last, t), max(r.dur, q.Duration)
		return true
	}
	// Over the cap, the count is only read: a flood of new names does
	// not write the line every caller shares.
	taken := &f.taken[kind]
	if taken.Load() >= f.max || taken.Add(1) > f.max {
		return false
	}
	k.name = strings.Clone(k.name) // LogQuery's is the proxy's buffer
	sh.index[k] = len(sh.rows)
	sh.rows = append(sh.rows, foldRow{key: k, first: t, last: t, n: 1, dur: q.Duration, seq: f.seq.Add(1)})
	return true
}

// take appends the rows folded so far of seconds before the Unix second
// before to dst, in the order they were begun, and starts the caps afresh.
func (f *folder) take(dst []foldRow, before int64) []foldRow {
	from := len(dst)
	for i := range f.taken {
		f.taken[i].Store(0)
	}
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		dst = sh.takeBefore(dst, before)
		sh.mu.Unlock()
	}
	slices.SortFunc(dst[from:], func(a, b foldRow) int { return cmp.Compare(a.seq, b.seq) })
	return dst
}

// takeBefore appends sh's rows of seconds before the second before to
// dst and keeps the others; sh is locked.
func (sh *shard) takeBefore(dst []foldRow, before int64) []foldRow {
	kept := sh.rows[:0]
	clear(sh.index)
	for _, r := range sh.rows {
		if r.key.sec < before {
			dst = append(dst, r)
			continue
		}
		sh.index[r.key] = len(kept)
		kept = append(kept, r)
	}
	clear(sh.rows[len(kept):]) // the names, for the collector
	sh.rows = kept
	return dst
}
