package diagnose

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// The status API finds a verdict by its ID while it lives, and not once it
// was replaced, evicted or expired; the index keeps no ID of those.
func TestVerdictByID(t *testing.T) {
	clock := dnstest.NewClock()
	clock.Set(time.Unix(1_000_000, 0))
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

// A verdict's JSON tells nxray's own EDE (the code it attaches to later
// answers) from the upstream's (what its failing answer carried, with
// text), the latter bounded in number and length.
func TestVerdictEDEJSON(t *testing.T) {
	log := dnstest.NewLog()
	e, err := New(Config{Prober: &fakeProber{fd: nxFindings("example.test.")}, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	upstream := []EDE{{Code: 6, Text: "no valid signature for example.test."}, {Code: 9}}
	for range maxUpstreamEDE {
		upstream = append(upstream, EDE{Code: 0, Text: strings.Repeat("é", maxEDEText)})
	}
	e.Observe(Failure{Name: "gone.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Upstream: "192.0.2.53:53", EDE: upstream})
	waitDiagnosed(t, log, 1)
	v, ok := e.Lookup("gone.example.test.", dns.TypeA)
	if !ok {
		t.Fatal("no verdict")
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		EDE         []uint16         `json:"ede"`
		UpstreamEDE []map[string]any `json:"upstream_ede"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.EDE) != 1 || got.EDE[0] != uint16(edeCode[NXDomainConfirmed]) {
		t.Errorf("ede %v, want [%d], nxray's for %s", got.EDE, edeCode[NXDomainConfirmed], NXDomainConfirmed)
	}
	if len(got.UpstreamEDE) != maxUpstreamEDE {
		t.Fatalf("upstream_ede has %d entries, want %d: %s", len(got.UpstreamEDE), maxUpstreamEDE, b)
	}
	if first := got.UpstreamEDE[0]; first["code"] != 6.0 || first["text"] != "no valid signature for example.test." {
		t.Errorf("upstream_ede[0] = %v", first)
	}
	if second := got.UpstreamEDE[1]; second["code"] != 9.0 || second["text"] != nil {
		t.Errorf("upstream_ede[1] = %v, want code 9 and no text", second)
	}
	if long := got.UpstreamEDE[2]["text"].(string); len(long) > maxEDEText || !utf8.ValidString(long) {
		t.Errorf("a long text kept %d bytes (valid UTF-8: %v), want at most %d", len(long), utf8.ValidString(long), maxEDEText)
	}
	// A cause that attaches nothing has no ede.
	if b, _ := json.Marshal(Verdict{EDE: ownEDE(edeCode[Unknown])}); strings.Contains(string(b), `"ede"`) {
		t.Errorf("unknown: %s", b)
	}
}
