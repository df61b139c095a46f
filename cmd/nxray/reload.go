package main

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// reload re-reads flags, environment and file; on any error the running
// configuration stays.
func reload(srv *proxy.Server, eng *diagnose.Engine, ex *pageExplainer, fs *pflag.FlagSet, old config.Config, level *slog.LevelVar, log *slog.Logger) config.Config {
	cfg, err := config.Load(fs)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	p, err := newProber(cfg)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	if err := srv.Reload(proxyConfig(cfg, log, nil, eng)); err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	eng.SetProber(p)
	if err := ex.set(cfg); err != nil { // cannot fail where newProber above did not
		log.Error("reloading the status page's explain", "error", err.Error())
	}
	lv, _ := config.ParseLevel(cfg.Log.Level)
	level.Set(lv)
	if !slices.Equal(cfg.Listen, old.Listen) {
		log.Warn("listen addresses change only on restart", "running", old.Listen, "configured", cfg.Listen)
		cfg.Listen = old.Listen
	}
	if changed := restartOnly(old.Diagnosis, cfg.Diagnosis); len(changed) > 0 {
		log.Warn("diagnosis sizes change only on restart", "changed", changed)
		cfg.Diagnosis = old.Diagnosis
	}
	log.Info("reloaded", "upstreams", upstreamStrings(cfg), "strategy", cfg.Strategy, "acl", cfg.ACL,
		"log_level", cfg.Log.Level)
	return cfg
}

// restartOnly lists the diagnosis keys that differ between the running and
// the configured sizes, as "key: running -> configured". The engine is built
// once, so a reload cannot apply them.
func restartOnly(running, configured config.Diagnosis) []string {
	var out []string
	diff := func(key string, r, c any) {
		if r != c {
			out = append(out, fmt.Sprintf("%s: %v -> %v", key, r, c))
		}
	}
	diff("diagnosis.workers", running.Workers, configured.Workers)
	diff("diagnosis.queue_size", running.QueueSize, configured.QueueSize)
	diff("diagnosis.store_size", running.StoreSize, configured.StoreSize)
	diff("diagnosis.verdict_ttl", running.VerdictTTL, configured.VerdictTTL)
	diff("diagnosis.probe_rate", running.ProbeRate, configured.ProbeRate)
	diff("diagnosis.probe_burst", running.ProbeBurst, configured.ProbeBurst)
	diff("diagnosis.probe_budget", running.ProbeBudget, configured.ProbeBudget)
	diff("diagnosis.timeout", running.Timeout, configured.Timeout)
	return out
}
