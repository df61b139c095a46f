package diagnose

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The status API finds a verdict by its ID while it lives, and not once it
// was replaced, evicted or expired; the index keeps no ID of those.
func TestVerdictByID(t *testing.T) {
	clock := &testClock{now: time.Unix(1_000_000, 0)}
	s, err := newStore(2, time.Minute, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	put := func(id, name string) { s.put(Verdict{ID: id, Name: name}, dns.TypeA) }
	found := func(id string) bool { _, ok := s.byID(id); return ok }

	put("1", "a.test.")
	put("2", "a.test.") // a later verdict for the same name and type
	if found("1") || !found("2") {
		t.Errorf("after a replacement: ID 1 found %v (want false), ID 2 found %v (want true)", found("1"), found("2"))
	}
	put("3", "b.test.")
	put("4", "c.test.") // the store holds 2: a.test. goes
	if found("2") || !found("3") || !found("4") {
		t.Errorf("after an eviction: IDs 2, 3, 4 found %v %v %v, want false true true", found("2"), found("3"), found("4"))
	}
	clock.Advance(time.Minute)
	if found("3") || found("4") {
		t.Error("expired verdicts found by ID")
	}
	if len(s.ids) != 2 {
		t.Errorf("the ID index holds %d IDs for the 2 verdicts stored: %v", len(s.ids), s.ids)
	}
}
