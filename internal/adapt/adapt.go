package adapt

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// EngineObserver hands the proxy's failures to the engine, naming the
// upstreams that serve each failed name; Set changes them, as a reload
// that changes the upstreams or forward zones does.
type EngineObserver struct {
	eng   *diagnose.Engine
	names atomic.Pointer[names]
}

// names are the upstreams a failure no upstream answered is laid to.
type names struct {
	upstreams string // the default ones
	zones     []Zone // longest first
}

// Zone is a forward zone and its upstreams, named when none of them
// answered a name in it.
type Zone struct {
	Zone      string // lowercase, fully qualified
	Upstreams string
}

var (
	_ proxy.Observer  = (*EngineObserver)(nil)
	_ proxy.Annotator = (*diagnose.Engine)(nil)
)

// Observer adapts eng to the proxy. upstreams names nxray's upstreams for a
// failure no upstream answered, and each zone's for a name in it.
func Observer(eng *diagnose.Engine, upstreams string, zones ...Zone) *EngineObserver {
	o := &EngineObserver{eng: eng}
	o.Set(upstreams, zones)
	return o
}

// Set names the upstreams from now on, as Observer does.
func (o *EngineObserver) Set(upstreams string, zones []Zone) {
	zones = slices.Clone(zones)
	slices.SortStableFunc(zones, func(a, b Zone) int { return len(b.Zone) - len(a.Zone) })
	o.names.Store(&names{upstreams: upstreams, zones: zones})
}

// Observe never blocks: Engine.Observe does not.
func (o *EngineObserver) Observe(f proxy.Failure) {
	o.eng.Observe(Failure(f, o.upstreamsOf(f.Name)))
}

// upstreamsOf names the upstreams that serve name.
func (o *EngineObserver) upstreamsOf(name string) string {
	n := o.names.Load()
	for _, z := range n.zones {
		if dns.IsSubDomain(z.Zone, strings.ToLower(name)) {
			return z.Upstreams
		}
	}
	return n.upstreams
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
