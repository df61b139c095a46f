package history

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/status"
)

func verdict(c *clock, id, name, rcode string, cause diagnose.Cause, first, last time.Duration) diagnose.Verdict {
	return diagnose.Verdict{ID: id, Name: name, Qtype: "A", Rcode: rcode, Cause: cause, Summary: "s " + id,
		FirstSeen: c.Now().Add(first), LastSeen: c.Now().Add(last), Count: 1,
		Evidence: []diagnose.Evidence{{Server: "192.0.2.1:53", Role: "authoritative", Query: name + " A", Rcode: rcode}}}
}

func ids(vs []diagnose.Verdict) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func TestVerdictsKeptAndPaged(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	for i, id := range []string{"1", "2", "3", "4"} {
		s.PutVerdict(verdict(c, id, id+".test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, time.Duration(i)*time.Minute))
	}
	v2 := verdict(c, "2", "2.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 10*time.Minute)
	v2.Count = 9
	s.PutVerdict(v2)
	// An older copy coming late does not undo the newer.
	s.PutVerdict(verdict(c, "2", "2.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, time.Minute))
	syncStore(t, s)
	ctx := context.Background()
	got, ok, err := s.Verdict(ctx, "2")
	if err != nil || !ok || got.Count != 9 || !reflect.DeepEqual(got.Evidence, v2.Evidence) {
		t.Fatalf("Verdict(2) = %+v, %v, %v; want count 9 with its evidence", got, ok, err)
	}
	if _, ok, err := s.Verdict(ctx, "nope"); ok || err != nil {
		t.Errorf("Verdict(nope) = %v, %v", ok, err)
	}
	var all []string
	cur := ""
	for range 5 {
		vs, next, err := s.Verdicts(ctx, status.VerdictFilter{Limit: 3, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(vs)...)
		if cur = next; cur == "" {
			break
		}
	}
	if want := []string{"2", "4", "3", "1"}; !slices.Equal(all, want) {
		t.Errorf("verdicts %v, want %v", all, want)
	}
	vs, _, _ := s.Verdicts(ctx, status.VerdictFilter{Since: c.Now().Add(time.Minute), Until: c.Now().Add(3 * time.Minute)})
	if want := []string{"4", "3"}; !slices.Equal(ids(vs), want) {
		t.Errorf("since/until: %v, want %v", ids(vs), want)
	}
}

func TestRecent(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	s.PutVerdict(verdict(c, "a", "a.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, -time.Hour, -time.Hour))
	s.PutVerdict(verdict(c, "b", "b.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, -time.Minute, -time.Minute))
	s.PutVerdict(diagnose.Verdict{ID: "not-a-number", Name: "c.test.", Qtype: "A", LastSeen: c.Now().Add(-2 * time.Hour)})
	syncStore(t, s)
	vs, last, err := s.Recent(context.Background(), 10*time.Minute, 100)
	if err != nil || !slices.Equal(ids(vs), []string{"b"}) || last != 11 {
		t.Errorf("Recent = %v, %d, %v; want [b], 11 (b in base 36)", ids(vs), last, err)
	}
}

// TestLinking links failed queries to the verdict they were counted on,
// by the engine's rules: the name's own verdict from its first failure to
// its TTL after the last, the latest one that began; a zone-wide verdict
// for other names under its zone; a SERVFAIL to a "no answer" verdict.
func TestLinking(t *testing.T) {
	c := newClock()
	ttl := 10 * time.Minute
	s := open(t, c, func(cfg *Config) { cfg.VerdictTTL = ttl })
	s.PutVerdict(verdict(c, "1", "a.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, time.Minute))
	s.PutVerdict(verdict(c, "2", "a.test.", "NXDOMAIN", diagnose.StaleNegativeCache, time.Hour, time.Hour))
	lame := verdict(c, "3", "www.lame.test.", "SERVFAIL", diagnose.LameDelegation, 0, time.Minute)
	lame.Zone = "lame.test."
	s.PutVerdict(lame)
	s.PutVerdict(verdict(c, "4", "dead.test.", "no answer", diagnose.UpstreamUnreachable, 0, 0))
	nx := verdict(c, "5", "n1.flood.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 0)
	nx.Zone, nx.Grouped = "flood.test.", 3
	s.PutVerdict(nx)
	solo := verdict(c, "6", "s1.solo.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 0)
	solo.Zone = "solo.test."
	s.PutVerdict(solo)
	for _, tc := range []struct {
		at    time.Duration
		name  string
		rcode int
		want  string
	}{
		{-time.Second, "a.test.", dns.RcodeNameError, ""}, // before the verdict
		{0, "A.test", dns.RcodeNameError, "1"},            // its first failure
		{time.Minute + ttl - time.Second, "a.test.", dns.RcodeNameError, "1"},
		{time.Minute + ttl, "a.test.", dns.RcodeNameError, ""},        // expired
		{time.Hour + time.Second, "a.test.", dns.RcodeNameError, "2"}, // the later verdict
		{time.Second, "a.test.", dns.RcodeServerFailure, ""},          // another rcode
		{time.Second, "a.test.", dns.RcodeSuccess, ""},
		{time.Second, "other.lame.test.", dns.RcodeServerFailure, "3"}, // zone-wide
		{time.Second, "lame.test.", dns.RcodeServerFailure, "3"},
		{time.Second, "dead.test.", dns.RcodeServerFailure, "4"},
		{time.Second, "n2.flood.test.", dns.RcodeNameError, "5"}, // a flood it grouped
		{time.Second, "*.flood.test.", dns.RcodeNameError, "5"},  // the row of its queries over the cap
		{time.Second, "s2.solo.test.", dns.RcodeNameError, ""},   // an NXDOMAIN about one name only
	} {
		s.LogQuery(q(c, tc.at, "127.0.0.1", tc.name, dns.TypeA, tc.rcode))
	}
	syncStore(t, s)
	got, _, err := s.Queries(context.Background(), status.QueryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var linked []string
	for _, r := range got {
		linked = append(linked, r.Name+"@"+r.Time.Sub(c.Now()).String()+"="+r.DiagnosisID)
	}
	// Newest first; at the same time, the last logged first.
	want := []string{"a.test.@1h0m1s=2", "a.test.@11m0s=", "a.test.@10m59s=1", "s2.solo.test.@1s=",
		"*.flood.test.@1s=5", "n2.flood.test.@1s=5", "dead.test.@1s=4", "lame.test.@1s=3", "other.lame.test.@1s=3", "a.test.@1s=",
		"a.test.@1s=", "a.test.@0s=1", "a.test.@-1s="}
	if !slices.Equal(linked, want) {
		t.Errorf("linked\n%v\nwant\n%v", linked, want)
	}
}

func TestFailures(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	s.PutVerdict(verdict(c, "1", "a.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, time.Minute))
	for _, r := range []struct {
		at     time.Duration
		client string
		name   string
		rcode  int
	}{
		{0, "127.0.0.1", "a.test.", dns.RcodeNameError},
		{30 * time.Second, "127.0.0.1", "a.test.", dns.RcodeNameError},
		{61 * time.Second, "127.0.0.2", "a.test.", dns.RcodeNameError},
		{62 * time.Second, "127.0.0.2", "b.test.", dns.RcodeServerFailure},
		{63 * time.Second, "127.0.0.2", "b.test.", dns.RcodeSuccess}, // not a failure
		{150 * time.Second, "127.0.0.3", "c.test.", dns.RcodeRefused},
		{-time.Second, "127.0.0.9", "a.test.", dns.RcodeNameError}, // before the span
	} {
		s.LogQuery(q(c, r.at, r.client, r.name, dns.TypeA, r.rcode))
	}
	syncStore(t, s)
	since := c.Now()
	c.Advance(3 * time.Minute)
	fc, err := s.Failures(context.Background(), since, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := status.FailureCounts{Start: since, Step: time.Minute,
		Cause:  map[string][]int{"nxdomain_confirmed": {2, 1, 0}, "": {0, 1, 1}},
		Client: map[string]int{"127.0.0.1": 2, "127.0.0.2": 2, "127.0.0.3": 1}}
	if !reflect.DeepEqual(fc, want) {
		t.Errorf("Failures = %+v\nwant %+v", fc, want)
	}
	if _, err := s.Failures(context.Background(), since, 0); err == nil {
		t.Error("a step of 0 was taken")
	}
}
