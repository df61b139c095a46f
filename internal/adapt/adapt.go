package adapt

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// observer hands the proxy's failures to the engine.
type observer struct {
	eng       *diagnose.Engine
	upstreams string // all of them, named when none answered
	zones     []Zone // longest first
}

// Zone is a forward zone and its upstreams, named when none of them
// answered a name in it.
type Zone struct {
	Zone      string // lowercase, fully qualified
	Upstreams string
}

var (
	_ proxy.Observer  = observer{}
	_ proxy.Annotator = (*diagnose.Engine)(nil)
)

// Observer adapts eng to the proxy. upstreams names nxray's upstreams for a
// failure no upstream answered, and each zone's for a name in it.
func Observer(eng *diagnose.Engine, upstreams string, zones ...Zone) proxy.Observer {
	slices.SortStableFunc(zones, func(a, b Zone) int { return len(b.Zone) - len(a.Zone) })
	return observer{eng: eng, upstreams: upstreams, zones: zones}
}

// Observe never blocks: Engine.Observe does not.
func (o observer) Observe(f proxy.Failure) {
	o.eng.Observe(Failure(f, o.upstreamsOf(f.Name)))
}

// upstreamsOf names the upstreams that serve name.
func (o observer) upstreamsOf(name string) string {
	for _, z := range o.zones {
		if dns.IsSubDomain(z.Zone, strings.ToLower(name)) {
			return z.Upstreams
		}
	}
	return o.upstreams
}

// Failure converts one proxy failure into what the engine explains.
func Failure(f proxy.Failure, upstreams string) diagnose.Failure {
	df := diagnose.Failure{Time: f.Time, Name: f.Name, Qtype: f.Qtype, Rcode: f.Rcode, Upstream: f.Upstream}
	if f.Err != nil {
		df.Rcode, df.Upstream = diagnose.NoAnswer, upstreams
	}
	for _, e := range f.EDE {
		df.EDE = append(df.EDE, diagnose.EDE{Code: e.InfoCode, Text: e.ExtraText})
	}
	if s := f.SOA; s != nil {
		df.SOA = &diagnose.SOA{Zone: s.Hdr.Name, Serial: s.Serial, TTL: s.Hdr.Ttl, Minimum: s.Minttl}
	}
	return df
}
