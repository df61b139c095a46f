package config

import (
	"fmt"
	"os"

	"github.com/miekg/dns"
)

// IANARootAnchors are the DS records of the root zone's KSKs (KSK-2017 and
// KSK-2024) as IANA publishes them in root-anchors.xml.
var IANARootAnchors = []string{
	". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
	". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
}

// parseTrustAnchors reads trust_anchors: empty for the built-in IANA root
// anchors, or a file of DS or DNSKEY records in zone file format (a DNSKEY
// is taken as its SHA-256 DS).
func parseTrustAnchors(path string) ([]*dns.DS, error) {
	var out []*dns.DS
	if path == "" {
		for _, s := range IANARootAnchors {
			rr, err := dns.NewRR(s)
			if err != nil {
				return nil, err
			}
			out = append(out, rr.(*dns.DS))
		}
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, ".", path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch r := rr.(type) {
		case *dns.DS:
			out = append(out, r)
		case *dns.DNSKEY:
			if ds := r.ToDS(dns.SHA256); ds != nil {
				out = append(out, ds)
			}
		}
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no DS or DNSKEY records in %s", path)
	}
	return out, nil
}
