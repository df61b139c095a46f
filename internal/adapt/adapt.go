package adapt

import (
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// observer hands the proxy's failures to the engine.
type observer struct {
	eng       *diagnose.Engine
	upstreams string // all of them, named when none answered
}

var (
	_ proxy.Observer  = observer{}
	_ proxy.Annotator = (*diagnose.Engine)(nil)
)

// Observer adapts eng to the proxy. upstreams names nxray's upstreams for a
// failure no upstream answered.
func Observer(eng *diagnose.Engine, upstreams string) proxy.Observer {
	return observer{eng: eng, upstreams: upstreams}
}

// Observe never blocks: Engine.Observe does not.
func (o observer) Observe(f proxy.Failure) {
	o.eng.Observe(Failure(f, o.upstreams))
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
