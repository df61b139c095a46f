package config

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// ZoneList holds forward_zones as "zone=upstream[,upstream...]" entries.
// The YAML file gives them as a map (zone: [upstreams]), the environment
// as "zone=up,up;zone=up", and --forward-zone one entry per flag.
type ZoneList []string

// ForwardZone is one entry of forward_zones, parsed: the names at and under
// Zone go to Upstreams instead of the global upstreams.
type ForwardZone struct {
	Zone      string // lowercase, fully qualified
	Upstreams []Upstream
}

// DefaultPrivateZones are the names that are private unless private_zones
// says otherwise: the special-use names a local network uses (RFC 8375
// home.arpa., RFC 6762 local., the .internal TLD ICANN reserved in 2024,
// RFC 6761 localhost. and invalid.) and the reverse zones of RFC 1918,
// link-local and ULA addresses (RFC 6303).
var DefaultPrivateZones = func() []string {
	zones := []string{"home.arpa.", "local.", "internal.", "localhost.", "invalid.",
		"10.in-addr.arpa.", "168.192.in-addr.arpa.", "254.169.in-addr.arpa.",
		"c.f.ip6.arpa.", "d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa."}
	for i := 16; i <= 31; i++ {
		zones = append(zones, fmt.Sprintf("%d.172.in-addr.arpa.", i))
	}
	return zones
}()

// zoneListHook reads NXRAY_FORWARD_ZONES: entries split on ";", since
// each entry's upstreams are split on ",".
func zoneListHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[ZoneList]() {
		return data, nil
	}
	var out []string
	for _, e := range strings.Split(data.(string), ";") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

// readFile reads the YAML file into v. forward_zones is a map whose keys
// are domain names, and viper reads dots in keys as nesting (corp.example.
// would become corp → example → ""), so the map is turned into ZoneList's
// entries before viper sees it.
func readFile(v *viper.Viper, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading config file %s: %w", file, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("reading config file %s: %w", file, err)
	}
	if fz, ok := doc["forward_zones"].(map[string]any); ok {
		entries, err := zoneEntries(fz)
		if err != nil {
			return fmt.Errorf("%w: config file %s: forward_zones: %v", ErrInvalid, file, err)
		}
		doc["forward_zones"] = entries
		if b, err = yaml.Marshal(doc); err != nil {
			return fmt.Errorf("reading config file %s: %w", file, err)
		}
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("reading config file %s: %w", file, err)
	}
	return nil
}

// zoneEntries turns the YAML map zone: [upstreams] (or zone: upstream) into
// "zone=up,up" entries, in zone order so that errors come out the same way
// every time.
func zoneEntries(fz map[string]any) ([]string, error) {
	var out []string
	for zone, ups := range fz {
		var list []string
		switch u := ups.(type) {
		case string:
			list = []string{u}
		case []any:
			for _, x := range u {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("%s: %v is not an upstream address", zone, x)
				}
				list = append(list, s)
			}
		default:
			return nil, fmt.Errorf("%s: want a list of upstreams", zone)
		}
		out = append(out, zone+"="+strings.Join(list, ","))
	}
	slices.Sort(out)
	return out, nil
}

// validateZones parses forward_zones and private_zones into Parsed: the
// forward zones longest first (the longest match wins), and every private
// zone, forward zones included.
func (c *Config) validateZones(p *problems) {
	c.Parsed.ForwardZones, c.Parsed.PrivateZones = nil, nil
	seen := map[string]bool{}
	for _, e := range c.ForwardZones {
		zone, ups, ok := strings.Cut(e, "=")
		name, err := zoneName(zone)
		switch {
		case !ok || strings.TrimSpace(ups) == "":
			p.bad("forward_zones", e, "want zone=upstream[,upstream...]")
			continue
		case err != nil:
			p.bad("forward_zones", e, err.Error())
			continue
		case name == ".":
			p.bad("forward_zones", e, "the root is every name: set upstreams instead")
			continue
		case seen[name]:
			p.bad("forward_zones", e, "zone "+name+" is given twice")
			continue
		}
		seen[name] = true
		parsed, err := c.parseUpstreams("forward_zones: "+name, strings.Split(ups, ","))
		p.add(err)
		if listen, err := parseListen(c.Listen); err == nil {
			*p = append(*p, checkLoops(listen, parsed)...)
		}
		c.Parsed.ForwardZones = append(c.Parsed.ForwardZones, ForwardZone{Zone: name, Upstreams: parsed})
		c.Parsed.PrivateZones = append(c.Parsed.PrivateZones, name)
	}
	slices.SortStableFunc(c.Parsed.ForwardZones, func(a, b ForwardZone) int { return dns.CountLabel(b.Zone) - dns.CountLabel(a.Zone) })
	for _, z := range c.PrivateZones {
		name, err := zoneName(z)
		if err != nil {
			p.bad("private_zones", z, err.Error())
			continue
		}
		if !slices.Contains(c.Parsed.PrivateZones, name) {
			c.Parsed.PrivateZones = append(c.Parsed.PrivateZones, name)
		}
	}
}

// zoneName checks a zone name and gives it lowercase and fully qualified.
func zoneName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty zone name")
	}
	name := strings.ToLower(dns.Fqdn(s))
	_, ok := dns.IsDomainName(name)
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}
	if !ok {
		return "", fmt.Errorf("%q is not a domain name (letters, digits, - and _ between dots)", s)
	}
	return name, nil
}

// ZoneOf returns the longest zone of zones that name is at or under, or ""
// for none. name need not be lowercase; zones must be.
func ZoneOf(name string, zones []string) string {
	best := ""
	for _, z := range zones {
		if len(z) > len(best) && dns.IsSubDomain(z, strings.ToLower(name)) {
			best = z
		}
	}
	return best
}
