package history

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/status"
)

func names(qs []status.QueryRecord) []string {
	var out []string
	for _, r := range qs {
		out = append(out, r.Name)
	}
	return out
}

func TestQueriesFilterNewestFirst(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	// Logged out of time order: a slow forward is logged after a later hit.
	for _, r := range []struct {
		at     time.Duration
		client string
		name   string
		rcode  int
	}{
		{1 * time.Second, "127.0.0.1", "a.test.", dns.RcodeSuccess},
		{3 * time.Second, "127.0.0.2", "B.test", dns.RcodeNameError},
		{2 * time.Second, "::ffff:127.0.0.1", "c.test.", dns.RcodeServerFailure},
		{4 * time.Second, "::1", "b.test.", dns.RcodeSuccess},
	} {
		s.LogQuery(q(c, r.at, r.client, r.name, dns.TypeA, r.rcode))
	}
	syncStore(t, s)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		f    status.QueryFilter
		want []string
	}{
		{"all", status.QueryFilter{}, []string{"b.test.", "b.test.", "c.test.", "a.test."}},
		{"name, any case, no dot", status.QueryFilter{Name: "B.TEST"}, []string{"b.test.", "b.test."}},
		{"client, a mapped address as plain IPv4", status.QueryFilter{Client: "127.0.0.1"}, []string{"c.test.", "a.test."}},
		{"client IPv6", status.QueryFilter{Client: "::1"}, []string{"b.test."}},
		{"rcode", status.QueryFilter{Rcode: "nxdomain"}, []string{"b.test."}},
		{"since and until, inclusive", status.QueryFilter{Since: c.Now().Add(2 * time.Second), Until: c.Now().Add(3 * time.Second)},
			[]string{"b.test.", "c.test."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := s.Queries(ctx, tc.f)
			if err != nil || next != "" || !slices.Equal(names(got), tc.want) {
				t.Errorf("Queries = %v, %q, %v; want %v", names(got), next, err, tc.want)
			}
		})
	}
	got, _, _ := s.Queries(ctx, status.QueryFilter{Rcode: "NXDOMAIN"})
	want := status.QueryRecord{Time: c.Now().Add(3 * time.Second), Client: "127.0.0.2", Name: "b.test.", Qtype: "A",
		Rcode: "NXDOMAIN", Upstream: "192.0.2.53:53", DurationMS: 1.5, Count: 1}
	if len(got) != 1 || !got[0].Time.Equal(want.Time) {
		t.Fatalf("got %+v", got)
	}
	got[0].Time = want.Time
	if got[0] != want {
		t.Errorf("record %+v, want %+v", got[0], want)
	}
}

func TestQueriesPaging(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	for i := range 7 {
		s.LogQuery(q(c, time.Duration(i/2)*time.Second, "127.0.0.1", string(rune('a'+i))+".test.", dns.TypeA, 0))
	}
	syncStore(t, s)
	var all []string
	cur := ""
	for range 10 {
		got, next, err := s.Queries(context.Background(), status.QueryFilter{Limit: 3, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, names(got)...)
		if cur = next; cur == "" {
			break
		}
	}
	// Same-second rows come newest logged first.
	want := []string{"g.test.", "f.test.", "e.test.", "d.test.", "c.test.", "b.test.", "a.test."}
	if !slices.Equal(all, want) {
		t.Errorf("pages gave %v, want %v", all, want)
	}
}

func TestQueriesBadFilter(t *testing.T) {
	s := open(t, newClock(), nil)
	for _, f := range []status.QueryFilter{
		{Cursor: "nonsense"}, {Cursor: "zz.notanumber"}, {Client: "example.com"}, {Rcode: "BOGUS"},
	} {
		if _, _, err := s.Queries(context.Background(), f); !errors.Is(err, status.ErrBadFilter) {
			t.Errorf("Queries(%+v) error %v, want ErrBadFilter", f, err)
		}
	}
	if _, _, err := s.Verdicts(context.Background(), status.VerdictFilter{Cursor: "x"}); !errors.Is(err, status.ErrBadFilter) {
		t.Errorf("Verdicts with a bad cursor: %v", err)
	}
}

// TestFoldAlike: queries alike within one second share a row, with
// their count, first and last time and longest duration; a query of
// another second, rcode or client gets a row of its own.
func TestFoldAlike(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	for i := range 5 {
		r := q(c, time.Duration(i)*100*time.Millisecond, "127.0.0.1", "a.test.", dns.TypeA, 0)
		r.Duration = time.Duration(i+1) * time.Millisecond
		s.LogQuery(r)
	}
	s.LogQuery(q(c, time.Second, "127.0.0.1", "a.test.", dns.TypeA, 0))
	s.LogQuery(q(c, 0, "127.0.0.1", "a.test.", dns.TypeA, dns.RcodeNameError))
	s.LogQuery(q(c, 0, "127.0.0.2", "a.test.", dns.TypeA, 0))
	syncStore(t, s)
	got, _, err := s.Queries(context.Background(), status.QueryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(got), got)
	}
	var folded status.QueryRecord
	total := 0
	for _, r := range got {
		total += r.Count
		if r.Count > 1 {
			folded = r
		}
	}
	if total != 8 {
		t.Errorf("counts add up to %d, want 8", total)
	}
	if folded.Count != 5 || !folded.Time.Equal(c.Now()) || !folded.Last.Equal(c.Now().Add(400*time.Millisecond)) ||
		folded.DurationMS != 5 {
		t.Errorf("folded row %+v; want 5 queries from +0 to +400ms, longest 5 ms", folded)
	}
	if st := s.Stats(); st.Written != 8 || st.Dropped != 0 {
		t.Errorf("%+v, want 8 queries written", st)
	}
}

// TestFoldCap: between two writes at most MaxRate rows of successes and
// as many of failures are begun; a query beyond its cap is counted in a
// row under its parent's wildcard, of which MaxRate more may be begun;
// only beyond those are queries dropped and counted. A name already in a
// row is still counted there, and successes do not keep failures out.
func TestFoldCap(t *testing.T) {
	c := newClock()
	s := open(t, c, func(cfg *Config) { cfg.MaxRate = 2 })
	for _, name := range []string{"a.one.test.", "b.one.test.", "c.one.test.", "d.one.test.", "e.two.test.",
		"f.three.test.", "a.one.test."} {
		s.LogQuery(q(c, 0, "127.0.0.1", name, dns.TypeA, 0))
	}
	s.LogQuery(q(c, 0, "127.0.0.1", "x.bad.test.", dns.TypeA, dns.RcodeNameError))
	syncStore(t, s)
	if st := s.Stats(); st.Dropped != 1 || st.Written != 7 {
		t.Errorf("%+v, want 1 dropped (f.three.test.), 7 written", st)
	}
	got, _, _ := s.Queries(context.Background(), status.QueryFilter{})
	rows := map[string]int{}
	for _, r := range got {
		rows[r.Name] = r.Count
	}
	want := map[string]int{"a.one.test.": 2, "b.one.test.": 1, "*.one.test.": 2, "*.two.test.": 1, "x.bad.test.": 1}
	if !maps.Equal(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	// The caps are per write: the next second begins rows again.
	for i := range 3 {
		s.LogQuery(q(c, time.Second, "127.0.0.1", "next"+strconv.Itoa(i)+".test.", dns.TypeA, 0))
	}
	syncStore(t, s)
	if st := s.Stats(); st.Dropped != 1 || st.Written != 10 {
		t.Errorf("%+v, want still 1 dropped, 10 written", st)
	}
	if n := count(t, s); n != 8 {
		t.Errorf("%d rows, want 8: two more names and *.test.", n)
	}
}

// TestManyRowsOneGo writes more rows than a chunk holds, and a few more.
func TestManyRowsOneGo(t *testing.T) {
	c := newClock()
	n := chunk*3 + 3
	s := open(t, c, nil)
	for i := range n {
		s.LogQuery(q(c, time.Duration(i), "127.0.0.1", "x"+strconv.Itoa(i)+".test.", dns.TypeA, 0))
	}
	syncStore(t, s)
	if st := s.Stats(); st.Written != uint64(n) || st.Dropped != 0 {
		t.Errorf("%+v, want %d written", st, n)
	}
	if got := count(t, s); got != n {
		t.Errorf("%d rows, want %d", got, n)
	}
}

// The query log is written just past each second's end, so that a
// second's rows go in one write, whenever the writer began.
func TestNextFlush(t *testing.T) {
	sec := time.Date(2026, 5, 1, 12, 0, 7, 0, time.UTC)
	for _, tc := range []struct{ now, want time.Duration }{
		{0, 1100 * time.Millisecond},
		{50 * time.Millisecond, 1050 * time.Millisecond},
		{950 * time.Millisecond, 150 * time.Millisecond},
		{100 * time.Millisecond, time.Second}, // just after a write
	} {
		if got := nextFlush(sec.Add(tc.now), time.Second); got != tc.want {
			t.Errorf("at +%v: next write in %v, want %v", tc.now, got, tc.want)
		}
	}
}

// A timed write takes the seconds that ended; the second under way stays,
// and its later queries still fold into its rows.
func TestTakeLeavesTheSecondUnderWay(t *testing.T) {
	c := newClock()
	f := newFolder(10)
	f.add(q(c, 0, "127.0.0.1", "a.test.", dns.TypeA, 0))
	f.add(q(c, time.Second, "127.0.0.1", "a.test.", dns.TypeA, 0))
	got := f.take(nil, c.Now().Add(time.Second).Unix())
	if len(got) != 1 || got[0].key.sec != c.Now().Unix() {
		t.Fatalf("took %+v, want the first second's row only", got)
	}
	f.add(q(c, time.Second+time.Millisecond, "127.0.0.1", "a.test.", dns.TypeA, 0))
	if got = f.take(nil, math.MaxInt64); len(got) != 1 || got[0].n != 2 {
		t.Errorf("then took %+v, want the second second's row with 2 queries", got)
	}
}
