package diagnose

import (
	"testing"
	"time"
)

func TestRestore(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e, err := New(Config{Prober: &fakeProber{}, StoreTTL: 10 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	vs := []Verdict{
		{ID: "z", Name: "live.test.", Qtype: "A", Rcode: "NXDOMAIN", Cause: NXDomainConfirmed, EDE: []uint16{0}, Summary: "gone", LastSeen: now.Add(-time.Minute)},
		{ID: "y", Name: "old.test.", Qtype: "A", Rcode: "NXDOMAIN", LastSeen: now.Add(-11 * time.Minute)},
		{ID: "x", Name: "badtype.test.", Qtype: "NOPE", Rcode: "NXDOMAIN", LastSeen: now},
	}
	if n := e.Restore(vs, 100); n != 1 {
		t.Fatalf("restored %d, want 1", n)
	}
	if v, ok := e.Lookup("LIVE.test", 1); !ok || v.ID != "z" {
		t.Errorf("Lookup(live.test) = %+v, %v; want the restored verdict", v, ok)
	}
	if _, ok := e.Get("z"); !ok {
		t.Error("Get(z): not found")
	}
	if _, ok := e.Lookup("old.test.", 1); ok {
		t.Error("an expired verdict came back")
	}
	if _, _, ok := e.Annotation("live.test.", 1, 3); !ok {
		t.Error("no annotation for a restored verdict")
	}
	// 100 in base 36 is "2s"; "z" is 35: new IDs follow the larger.
	if id := e.newID(); id != "2t" {
		t.Errorf("next ID %q, want 2t", id)
	}
}
