package main

import (
	"log/slog"
	"strings"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/wire"
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

// newEngineObserver hands the proxy's failures to the engine.
func newEngineObserver(eng *diagnose.Engine, cfg config.Config) proxy.Observer {
	return wire.Observer(eng, strings.Join(upstreamStrings(cfg), ", "))
}
