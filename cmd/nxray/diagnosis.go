package main

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
	"github.com/nxray/nxray/internal/upstream"
)

// newProber builds the network prober from the configuration.
func newProber(cfg config.Config) (*diagnose.NetProber, error) {
	return diagnose.NewNetProber(diagnose.ProbeConfig{
		Exchanger:    newDirect(cfg),
		Upstreams:    addrs(cfg.Parsed.Upstreams),
		Alternates:   addrs(cfg.Parsed.Alternates),
		Private:      privateZones(cfg),
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

// privateZones pairs each private zone with the resolvers a diagnosis asks
// about its names: the upstreams of the forward zone it is in, else nxray's
// upstreams.
func privateZones(cfg config.Config) []diagnose.PrivateZone {
	var fwd []string
	for _, z := range cfg.Parsed.ForwardZones {
		fwd = append(fwd, z.Zone)
	}
	var out []diagnose.PrivateZone
	for _, zone := range cfg.Parsed.PrivateZones {
		resolvers := addrs(cfg.Parsed.Upstreams)
		if in := config.ZoneOf(zone, fwd); in != "" {
			resolvers = addrs(cfg.Parsed.ForwardZones[slices.Index(fwd, in)].Upstreams)
		}
		out = append(out, diagnose.PrivateZone{Zone: zone, Resolvers: resolvers})
	}
	return out
}

// addrs are how the diagnosis names resolvers: IP:port for plain ones,
// the configured spelling (tls://…, https://…) for encrypted ones, which
// it asks through newDirect's Exchanger.
func addrs(ups []config.Upstream) []string {
	out := make([]string, len(ups))
	for i, u := range ups {
		out[i] = u.Addr
		if u.Net == "tls" || u.Net == "https" {
			out[i] = u.String()
		}
	}
	return out
}

// newDirect is the diagnosis's way to the encrypted upstreams, alternates
// and forward zones' upstreams; it holds no connection while idle (10s).
// A prober replaced on reload lets its connections close that way.
func newDirect(cfg config.Config) *upstream.Direct {
	all := append(append([]config.Upstream(nil), cfg.Parsed.Upstreams...), cfg.Parsed.Alternates...)
	for _, z := range cfg.Parsed.ForwardZones {
		all = append(all, z.Upstreams...)
	}
	return upstream.NewDirect(context.Background(), proxyUpstreams(all, cfg.Parsed.TLS))
}

// explainUpstream is the upstream explain asks about name first: its
// forward zone's first upstream, else nxray's first.
func explainUpstream(cfg config.Config, name string) string {
	var fwd []string
	for _, z := range cfg.Parsed.ForwardZones {
		fwd = append(fwd, z.Zone)
	}
	if in := config.ZoneOf(name, fwd); in != "" {
		return addrs(cfg.Parsed.ForwardZones[slices.Index(fwd, in)].Upstreams[:1])[0]
	}
	return addrs(cfg.Parsed.Upstreams[:1])[0]
}

// observerNames are the upstreams cfg gives the engine's observer to name:
// nxray's, and each forward zone's.
func observerNames(cfg config.Config) (string, []adapt.Zone) {
	var def []string
	for _, u := range cfg.Parsed.Upstreams {
		def = append(def, u.String())
	}
	var zones []adapt.Zone
	for _, z := range cfg.Parsed.ForwardZones {
		var ups []string
		for _, u := range z.Upstreams {
			ups = append(ups, u.String())
		}
		zones = append(zones, adapt.Zone{Zone: z.Zone, Upstreams: strings.Join(ups, ", ")})
	}
	return strings.Join(def, ", "), zones
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
