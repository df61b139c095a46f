package main

import (
	"log/slog"
	"net/netip"
	"strings"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
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
		Deny:         cfg.Parsed.DenyNetworks,
		Self:         listenAddrs(cfg.Listen),
	})
}

func newEngine(cfg config.Config, log *slog.Logger) (*diagnose.Engine, error) {
	p, err := newProber(cfg)
	if err != nil {
		return nil, err
	}
	return diagnose.New(engineConfig(cfg.Diagnosis, p, log))
}

// engineConfig sizes the engine from the diagnosis keys, every one of them
// above zero once validated, so none falls back to the engine's own default.
func engineConfig(d config.Diagnosis, p diagnose.Prober, log *slog.Logger) diagnose.Config {
	return diagnose.Config{
		Prober:      p,
		Workers:     d.Workers,
		QueueSize:   d.QueueSize,
		StoreSize:   d.StoreSize,
		StoreTTL:    d.VerdictTTL,
		ProbeRate:   d.ProbeRate,
		ProbeBurst:  d.ProbeBurst,
		ProbeBudget: d.ProbeBudget,
		Timeout:     d.Timeout,
		Logger:      log,
	}
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
	return adapt.Observer(eng, strings.Join(upstreamStrings(cfg), ", "))
}

// listenAddrs parses nxray's listen addresses (validated by config.Load).
func listenAddrs(listen []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, l := range listen {
		if ap, err := netip.ParseAddrPort(l); err == nil {
			out = append(out, ap)
		}
	}
	return out
}
