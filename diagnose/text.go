package diagnose

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// maxListed bounds the items a summary lists; the rest are counted, so a
// verdict stays small whatever the size of an NS set.
const maxListed = 5

// list joins s, cut after maxListed items: "a, b, c, d, e and 395 more".
func list(s []string) string {
	switch {
	case len(s) == 0:
		return "none"
	case len(s) > maxListed:
		return strings.Join(s[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(s)-maxListed)
	}
	return strings.Join(s, ", ")
}

// dedupe keeps the first of each string, in order.
func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// label names a server as "ns1.example. (192.0.2.1:53)", or by address.
func label(a Answer) string {
	if a.Host != "" && a.Host != "root" {
		return a.Host + " (" + a.Server + ")"
	}
	return a.Server
}

// servers names each server once.
func servers(as []Answer) string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, label(a))
	}
	return list(dedupe(out))
}

// hosts names each server's NS name (or address) once.
func hosts(as []Answer) string { return list(hostNames(as)) }

// hostList names the zone's servers that answered.
func hostList(as []Answer) string {
	var r []Answer
	for _, a := range as {
		if a.responded() {
			r = append(r, a)
		}
	}
	return servers(r)
}

// kinds names each server with the kind of its unreachable address:
// "ns1.example. (169.254.1.1:53) link-local".
func kinds(as []Answer) string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, label(a)+" "+unreachable(a.Server))
	}
	return list(dedupe(out))
}

// reasons says once each why servers were not probed.
func reasons(as []Answer) string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, reason(a))
	}
	return list(dedupe(out))
}

// hostNames is each server's NS name, or its address when it has none.
func hostNames(as []Answer) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		if a.Host != "" {
			out = append(out, a.Host)
		} else {
			out = append(out, a.Server)
		}
	}
	return dedupe(out)
}

// withSerials names each server with the serial it publishes.
func withSerials(as []Answer) string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		s := label(a)
		if a.HasSerial {
			s += fmt.Sprintf(" serial %d", a.Serial)
		}
		out = append(out, s)
	}
	return list(dedupe(out))
}

// describe says what each server did: "ns1 (192.0.2.1:53) refused".
func describe(as []Answer) string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		what := rcode(a.Rcode)
		switch {
		case !a.responded() && a.Err != "":
			what = a.Err
		case a.Rcode == dns.RcodeRefused:
			what = "REFUSED"
		case a.resolved() && !a.AA:
			what = "answered without AA"
		}
		out = append(out, label(a)+" "+what)
	}
	out = dedupe(out)
	if len(out) > maxListed {
		return strings.Join(out[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(out)-maxListed)
	}
	return strings.Join(out, "; ")
}

// codes lists Extended DNS Error codes with their names: "7 (Signature Expired)".
func codes(c []uint16) string {
	out := make([]string, 0, len(c))
	for _, x := range c {
		if s, ok := dns.ExtendedErrorCodeToString[x]; ok {
			out = append(out, fmt.Sprintf("%d (%s)", x, s))
		} else {
			out = append(out, fmt.Sprint(x))
		}
	}
	return list(out)
}

func zoneOr(f *Findings) string {
	if f.Zone != "" {
		return f.Zone
	}
	return f.target()
}

func qtype(t uint16) string { return dns.TypeToString[t] }

func rcode(rc int) string {
	switch rc { // the failures the engine sees, without a map look-up
	case NoAnswer:
		return "no answer"
	case dns.RcodeNameError:
		return "NXDOMAIN"
	case dns.RcodeServerFailure:
		return "SERVFAIL"
	case dns.RcodeRefused:
		return "REFUSED"
	}
	return dns.RcodeToString[rc]
}

// tidy drops the double stop of a sentence that ends in a fully qualified
// name ("... for www.example.com.."); no name holds an empty label.
func tidy(s string) string { return strings.ReplaceAll(s, "..", ".") }
