package diagnose

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// signedZone is a zone's keys and a server that answers its DNSKEY set,
// signed by the keys in signers.
type signedZone struct {
	keys    []*dns.DNSKEY
	privs   []crypto.Signer
	signers []int // indices into keys
}

func newKey(t *testing.T, zone string, flags uint16) (*dns.DNSKEY, crypto.Signer) {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags: flags, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	return k, priv.(crypto.Signer)
}

func (z signedZone) serve(t *testing.T, now time.Time) string {
	t.Helper()
	var rrs []dns.RR
	for _, k := range z.keys {
		rrs = append(rrs, k)
	}
	answer := append([]dns.RR(nil), rrs...)
	for _, i := range z.signers {
		sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: z.keys[0].Hdr.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
			KeyTag: z.keys[i].KeyTag(), SignerName: z.keys[0].Hdr.Name, Algorithm: z.keys[i].Algorithm,
			Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(time.Hour).Unix())}
		if err := sig.Sign(z.privs[i], rrs); err != nil {
			t.Fatal(err)
		}
		answer = append(answer, sig)
	}
	return dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Authoritative = true
		if r.Question[0].Qtype == dns.TypeDNSKEY {
			m.Answer = answer
		}
		w.WriteMsg(m)
	}).Addr
}

// TestChainDNSKEYSignedByTheDSKey: the DNSKEY set must be signed by a key
// the parent's DS names. After a botched key roll (the DS moved to a new
// KSK that does not sign yet) the chain is broken, though every signature
// present verifies with some key of the zone.
func TestChainDNSKEYSignedByTheDSKey(t *testing.T) {
	const zone = "roll.test."
	now := time.Now()
	oldKSK, oldPriv := newKey(t, zone, 257)
	newKSK, newPriv := newKey(t, zone, 257)
	keys, privs := []*dns.DNSKEY{oldKSK, newKSK}, []crypto.Signer{oldPriv, newPriv}
	dsNew := newKSK.ToDS(dns.SHA256)
	p, err := NewNetProber(ProbeConfig{RootHints: []string{"127.0.0.1"}, Timeout: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		signers []int
		broken  bool
	}{
		{"signed by the key the DS names", []int{1}, false},
		{"signed by both keys", []int{0, 1}, false},
		{"signed only by the old key the DS no longer names", []int{0}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := signedZone{keys: keys, privs: privs, signers: tt.signers}.serve(t, now)
			a := &asker{timeout: time.Second, take: func() bool { return true }}
			c := p.checkChain(context.Background(), a, zone, []*dns.DS{dsNew}, nsAddr{host: "ns1." + zone, addr: addr}, nil, now)
			if c.broken() != tt.broken {
				t.Errorf("broken %v, want %v: %+v", c.broken(), tt.broken, c)
			}
		})
	}
}
