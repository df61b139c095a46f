package history

import (
	"context"
	"errors"
	"slices"
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
		Rcode: "NXDOMAIN", Upstream: "192.0.2.53:53", DurationMS: 1.5}
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

// TestBlockedWriterDrops holds the writer and fills the queue: the rows
// beyond it are dropped and counted, LogQuery never waits, and the queued
// ones are written once the writer goes on.
func TestBlockedWriterDrops(t *testing.T) {
	c := newClock()
	s := open(t, c, func(cfg *Config) { cfg.QueueSize = 10 })
	hold, held := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.do(context.Background(), func(context.Context) error { close(held); <-hold; return nil })
	}()
	<-held
	for i := range 15 {
		s.LogQuery(q(c, time.Duration(i), "127.0.0.1", "x.test.", dns.TypeA, 0))
	}
	if st := s.Stats(); st.Dropped != 5 || st.Written != 0 {
		t.Errorf("with the writer held: %+v, want 5 dropped, none written", st)
	}
	close(hold)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	syncStore(t, s)
	if st := s.Stats(); st.Dropped != 5 || st.Written != 10 {
		t.Errorf("after: %+v, want 5 dropped, 10 written", st)
	}
	got, _, _ := s.Queries(context.Background(), status.QueryFilter{})
	if len(got) != 10 {
		t.Errorf("%d rows kept, want 10", len(got))
	}
}

// TestManyRowsOneGo writes more rows than a batch and a chunk hold.
func TestManyRowsOneGo(t *testing.T) {
	c := newClock()
	n := maxBatch*2 + chunk + 3
	s := open(t, c, func(cfg *Config) { cfg.QueueSize = n })
	for i := range n {
		s.LogQuery(q(c, time.Duration(i), "127.0.0.1", "x.test.", dns.TypeA, 0))
	}
	syncStore(t, s)
	if st := s.Stats(); st.Written != uint64(n) || st.Dropped != 0 {
		t.Errorf("%+v, want %d written", st, n)
	}
}
