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
// crowds out the failures the log is read for. Queries beyond the cap are
// dropped and counted.
//
// LogQuery only takes a shard's lock, looks its key up and adds: no
// channel, no goroutine woken. The writer takes the rows every FlushEvery.

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

// folder is what LogQuery folds queries into until the writer takes them.
type folder struct {
	seed   maphash.Seed
	max    int64           // rows of each kind between two writes
	taken  [2]atomic.Int64 // rows of successes and of failures taken since
	seq    atomic.Uint64
	shards [foldShards]shard
}

func newFolder(maxRate int, every time.Duration) *folder {
	f := &folder{seed: maphash.MakeSeed(), max: max(1, int64(float64(maxRate)*every.Seconds()))}
	for i := range f.shards {
		f.shards[i].index = map[foldKey]int{}
	}
	return f
}

// add folds q in; false when it is over the cap and dropped.
func (f *folder) add(q proxy.Query) bool {
	t := q.Time.UnixNano()
	k := foldKey{sec: q.Time.Unix(), client: q.Client, name: q.Name, upstream: q.Upstream, rcode: q.Rcode,
		qtype: q.Qtype, cached: q.Cached}
	sh := &f.shards[maphash.String(f.seed, q.Name)%foldShards]
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
	taken := &f.taken[0]
	if failed(q.Rcode) {
		taken = &f.taken[1]
	}
	if taken.Load() >= f.max || taken.Add(1) > f.max {
		return false
	}
	k.name = strings.Clone(k.name) // LogQuery's is the proxy's buffer
	sh.index[k] = len(sh.rows)
	sh.rows = append(sh.rows, foldRow{key: k, first: t, last: t, n: 1, dur: q.Duration, seq: f.seq.Add(1)})
	return true
}

// take appends the rows folded so far to dst, in the order they were
// begun, and starts afresh.
func (f *folder) take(dst []foldRow) []foldRow {
	from := len(dst)
	f.taken[0].Store(0)
	f.taken[1].Store(0)
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		dst = append(dst, sh.rows...)
		clear(sh.rows) // the names, for the collector
		sh.rows = sh.rows[:0]
		clear(sh.index)
		sh.mu.Unlock()
	}
	slices.SortFunc(dst[from:], func(a, b foldRow) int { return cmp.Compare(a.seq, b.seq) })
	return dst
}
