package main

import (
	"crypto/tls"
	"io"
	"log/slog"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/proxy"
)

// proxyConfig hands the proxy the plain values it needs; ann explains
// failing answers unless annotate is off.
func proxyConfig(cfg config.Config, log *slog.Logger, obs proxy.Observer, ann proxy.Annotator) proxy.Config {
	if cfg.Annotate == "off" {
		ann = nil
	}
	var zones []proxy.Zone
	for _, z := range cfg.Parsed.ForwardZones {
		zones = append(zones, proxy.Zone{Zone: z.Zone, Upstreams: proxyUpstreams(z.Upstreams, cfg.Parsed.TLS)})
	}
	return proxy.Config{
		Listen:         cfg.Listen,
		Upstreams:      proxyUpstreams(cfg.Parsed.Upstreams, cfg.Parsed.TLS),
		Zones:          zones,
		Strategy:       cfg.Strategy,
		Timeout:        cfg.Timeout,
		Deadline:       cfg.Deadline,
		FailoverRcodes: cfg.Parsed.FailoverRcodes,
		HealthInterval: cfg.HealthInterval,
		MaxInflight:    cfg.MaxInflight,
		ACL:            cfg.Parsed.ACL,
		Cache: proxy.CacheConfig{
			Size:           cfg.Cache.Size,
			NegativeSize:   cfg.Cache.NegativeSize,
			MinTTL:         cfg.Cache.MinTTL,
			MaxTTL:         cfg.Cache.MaxTTL,
			NegativeMaxTTL: cfg.Cache.NegativeMaxTTL,
			ServfailTTL:    cfg.Cache.ServfailTTL,
		},
		TCPMaxConns:     cfg.TCP.MaxConnections,
		TCPIdleTimeout:  cfg.TCP.IdleTimeout,
		TCPMaxPerClient: cfg.TCP.MaxPerClient,
		MaxUDPSize:      cfg.MaxUDPSize,
		LogQueries:      cfg.Log.Queries,
		Logger:          log,
		Observer:        obs,
		Annotator:       ann,
		AnnotateWait:    cfg.Parsed.AnnotateWait,
	}
}

// proxyUpstreams hands the proxy its upstreams; roots (nil: the system's)
// check the certificates of tls:// and https:// ones.
func proxyUpstreams(list []config.Upstream, roots *tls.Config) []proxy.Upstream {
	ups := make([]proxy.Upstream, len(list))
	for i, u := range list {
		ups[i] = proxy.Upstream{Net: u.Net, Addr: u.Addr, ServerName: u.ServerName, Path: u.Path, GET: u.GET, TLS: roots}
	}
	return ups
}

func newLogger(cfg config.Log, level *slog.LevelVar, w io.Writer) *slog.Logger {
	lv, _ := config.ParseLevel(cfg.Level) // validated by config.Load
	level.Set(lv)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func addrStrings(srv *proxy.Server) []string {
	var out []string
	for _, a := range srv.Addrs() {
		out = append(out, a.Network()+"://"+a.String())
	}
	return out
}

func upstreamStrings(cfg config.Config) []string {
	var out []string
	for _, u := range cfg.Parsed.Upstreams {
		out = append(out, u.String())
	}
	for _, z := range cfg.Parsed.ForwardZones {
		for _, u := range z.Upstreams {
			out = append(out, z.Zone+"="+u.String())
		}
	}
	return out
}
