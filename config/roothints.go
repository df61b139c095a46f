package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// IANARootServers are the IPv4 addresses of a.root-servers.net to
// m.root-servers.net, the built-in root hints.
var IANARootServers = []string{
	"198.41.0.4", "170.247.170.2", "192.33.4.12", "199.7.91.13", "192.203.230.10", "192.5.5.241",
	"192.112.36.4", "198.97.190.53", "192.36.148.17", "192.58.128.30", "193.0.14.129", "199.7.83.42",
	"202.12.27.33",
}

// parseRootHints reads root_hints: empty for the built-in list, IPs
// separated by commas, or a hints file (named.root) whose A and AAAA
// records are taken.
func parseRootHints(s string) ([]string, error) {
	if s == "" {
		return IANARootServers, nil
	}
	var out []string
	if _, err := os.Stat(s); err == nil {
		f, err := os.Open(s)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zp := dns.NewZoneParser(f, ".", s)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			switch r := rr.(type) {
			case *dns.A:
				out = append(out, r.A.String())
			case *dns.AAAA:
				out = append(out, r.AAAA.String())
			}
		}
		if err := zp.Err(); err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no A or AAAA records in %s", s)
		}
		return out, nil
	}
	for _, ip := range strings.Split(s, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(ip))
		if err != nil {
			return nil, fmt.Errorf("%q is neither a file nor an IP address", strings.TrimSpace(ip))
		}
		out = append(out, a.String())
	}
	return out, nil
}
