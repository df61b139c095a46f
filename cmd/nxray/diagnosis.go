package main

import (
	"log/slog"
	"strings"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// newProber builds the network prober from the configuration.
func newProber(cfg config.Config) (*diagnose.NetProber, error) {
	return diagnose.NewNetProber(diagnose.ProbeConfig{
		Upstreams:    addrs(cfg.Parsed.Upstreams),
		Alternates:   addrs(cfg.Parsed.Alternates),
		RootHints:    cfg.Parsed.RootHints,
		AuthPort:     cfg.AuthPort,
		TrustAnchors: cfg.Parsed.TrustAnchors,
	})
}

func newEngine(cfg config.Config, log *slog.Logger) (*diagnose.Engine, error) {
	p, err := newProber(cfg)
	if err != nil {
		return nil, err
	}
	return diagnose.New(diagnose.Config{Prober: p, Logger: log})
}

func addrs(ups []config.Upstream) []string {
	out := make([]string, len(ups))
	for i, u := range ups {
		out[i] = u.Addr
	}
	return out
}

// engineObserver hands the proxy's failures to the diagnosis engine.
type engineObserver struct {
	eng       *diagnose.Engine
	upstreams string // all of them, named when none answered
}

var (
	_ proxy.Observer  = engineObserver{}
	_ proxy.Annotator = (*diagnose.Engine)(nil)
)

func (o engineObserver) Observe(f proxy.Failure) {
	df := diagnose.Failure{Time: f.Time, Name: f.Name, Qtype: f.Qtype, Rcode: f.Rcode, Upstream: f.Upstream}
	if f.Err != nil {
		df.Rcode, df.Upstream = diagnose.NoAnswer, o.upstreams
	}
	for _, e := range f.EDE {
		df.EDE = append(df.EDE, e.InfoCode)
	}
	o.eng.Observe(df)
}

func newEngineObserver(eng *diagnose.Engine, cfg config.Config) engineObserver {
	return engineObserver{eng: eng, upstreams: strings.Join(upstreamStrings(cfg), ", ")}
}
