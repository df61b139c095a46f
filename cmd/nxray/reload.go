package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
)

// reload re-reads flags, environment and file; on any error the running
// configuration stays. Settings a reload cannot change keep their running
// values, and one warning names each that differs.
func (in *instance) reload(fs *pflag.FlagSet, old config.Config) config.Config {
	log := in.log
	cfg, err := config.Load(fs)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	changed := keepRunning(old, &cfg)
	p, err := newProber(cfg)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	if err := in.srv.Reload(proxyConfig(cfg, log, nil, in.eng)); err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	in.eng.SetProber(p)
	in.obs.Set(observerNames(cfg))         // the proxy keeps its first observer: this one
	if err := in.ex.set(cfg); err != nil { // cannot fail where newProber above did not
		log.Error("reloading the status page's explain", "error", err.Error())
	}
	lv, _ := config.ParseLevel(cfg.Log.Level)
	in.level.Set(lv)
	if len(changed) > 0 {
		log.Warn("some settings change only on restart; keeping the running values", "changed", changed)
	}
	log.Info("reloaded", "upstreams", upstreamStrings(cfg), "strategy", cfg.Strategy, "acl", cfg.ACL,
		"log_level", cfg.Log.Level)
	return cfg
}

// keepRunning puts the running value of every setting a reload cannot
// change back into configured, so that it describes what runs, and lists
// each that differed as "key: running -> configured (restart to apply)".
// proxy.Server.Reload swaps the upstream pool, ACL, query logging and
// annotation only; listeners, cache, TCP limits, logger, status server and
// diagnosis engine are built once.
func keepRunning(running config.Config, c *config.Config) []string {
	var out []string
	keep(&out, "listen", running.Listen, &c.Listen)
	keep(&out, "deadline", running.Deadline, &c.Deadline)
	keep(&out, "max_inflight", running.MaxInflight, &c.MaxInflight)
	keep(&out, "max_udp_size", running.MaxUDPSize, &c.MaxUDPSize)
	keep(&out, "cache.size", running.Cache.Size, &c.Cache.Size)
	keep(&out, "cache.negative_size", running.Cache.NegativeSize, &c.Cache.NegativeSize)
	keep(&out, "cache.min_ttl", running.Cache.MinTTL, &c.Cache.MinTTL)
	keep(&out, "cache.max_ttl", running.Cache.MaxTTL, &c.Cache.MaxTTL)
	keep(&out, "cache.negative_max_ttl", running.Cache.NegativeMaxTTL, &c.Cache.NegativeMaxTTL)
	keep(&out, "cache.servfail_ttl", running.Cache.ServfailTTL, &c.Cache.ServfailTTL)
	keep(&out, "tcp.max_connections", running.TCP.MaxConnections, &c.TCP.MaxConnections)
	keep(&out, "tcp.max_per_client", running.TCP.MaxPerClient, &c.TCP.MaxPerClient)
	keep(&out, "tcp.idle_timeout", running.TCP.IdleTimeout, &c.TCP.IdleTimeout)
	keep(&out, "http", running.HTTP, &c.HTTP)
	if running.HTTPToken != c.HTTPToken { // never logged
		out = append(out, "http_token: changed (restart to apply)")
		c.HTTPToken = running.HTTPToken
	}
	keep(&out, "http_hosts", running.HTTPHosts, &c.HTTPHosts)
	keep(&out, "log.format", running.Log.Format, &c.Log.Format)
	keep(&out, "history.path", running.History.Path, &c.History.Path)
	keep(&out, "history.retention", running.History.Retention, &c.History.Retention)
	keep(&out, "history.max_queries", running.History.MaxQueries, &c.History.MaxQueries)
	keep(&out, "history.max_rate", running.History.MaxRate, &c.History.MaxRate)
	keep(&out, "diagnosis.workers", running.Diagnosis.Workers, &c.Diagnosis.Workers)
	keep(&out, "diagnosis.queue_size", running.Diagnosis.QueueSize, &c.Diagnosis.QueueSize)
	keep(&out, "diagnosis.store_size", running.Diagnosis.StoreSize, &c.Diagnosis.StoreSize)
	keep(&out, "diagnosis.verdict_ttl", running.Diagnosis.VerdictTTL, &c.Diagnosis.VerdictTTL)
	keep(&out, "diagnosis.probe_rate", running.Diagnosis.ProbeRate, &c.Diagnosis.ProbeRate)
	keep(&out, "diagnosis.probe_burst", running.Diagnosis.ProbeBurst, &c.Diagnosis.ProbeBurst)
	keep(&out, "diagnosis.probe_budget", running.Diagnosis.ProbeBudget, &c.Diagnosis.ProbeBudget)
	keep(&out, "diagnosis.timeout", running.Diagnosis.Timeout, &c.Diagnosis.Timeout)
	return out
}

// keep notes key in out and sets *configured back to running when they
// differ as printed (so an empty list is a nil one).
func keep[T any](out *[]string, key string, running T, configured *T) {
	r, c := show(running), show(*configured)
	if r == c {
		return
	}
	*out = append(*out, fmt.Sprintf("%s: %s -> %s (restart to apply)", key, r, c))
	*configured = running
}

// show prints a setting's value; strings are quoted, so that an empty one
// shows.
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
