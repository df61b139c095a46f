package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/internal/version"
	"github.com/nxray/nxray/proxy"
)

// instance is one running nxray: the diagnosis engine, the proxy in front of
// the upstreams (which hands the engine its failures and asks it for
// annotations) and the status page over both. serve and demo both start
// theirs with startInstance, so the demo runs what serve runs.
type instance struct {
	eng   *diagnose.Engine      // never nil
	obs   *adapt.EngineObserver // the proxy's observer, whose upstream names a reload sets
	srv   *proxy.Server         // never nil, started
	page  *status.Server        // nil when cfg.HTTP is empty
	hist  *keeper               // nil when history.path is empty
	ex    *pageExplainer        // the page's explain; nil when the page is off
	level *slog.LevelVar        // log's level, which a reload sets
	log   *slog.Logger          // never nil
	check *upstreamCheck        // the start-up check of the upstreams (check.go); never nil once started
}

// startInstance builds and starts nxray from cfg, a validated configuration,
// logging to w: the engine, the history (which gives the engine back its
// recent verdicts), then the proxy, then the status page, then one
// "nxray started" line; then it asks each upstream one question in the
// background (check.go). On error nothing it started is left running.
func startInstance(cfg config.Config, w io.Writer) (*instance, error) {
	in := &instance{level: new(slog.LevelVar)}
	in.log = newLogger(cfg.Log, in.level, w)
	var err error
	if in.eng, err = newEngine(cfg, in.log); err != nil {
		return nil, err
	}
	metrics := status.NewMetrics()
	if in.hist, err = startHistory(cfg, in.eng, metrics, in.log); err != nil {
		in.eng.Close()
		return nil, err
	}
	in.obs = adapt.Observer(in.eng, "")
	in.obs.Set(observerNames(cfg))
	pcfg := proxyConfig(cfg, in.log, in.obs, in.eng)
	pcfg.Recorder = metrics            // kept across reloads: the proxy reads it from its first config
	pcfg.QueryLog = in.hist.queryLog() // likewise
	if in.srv, err = proxy.New(pcfg); err == nil {
		err = in.srv.Start()
	}
	if err != nil {
		in.hist.stop(in.log)
		in.eng.Close()
		return nil, err
	}
	if in.page, in.ex, err = startStatus(cfg, in.srv, in.eng, in.hist.history(), metrics, in.log); err != nil {
		in.srv.Shutdown(context.Background())
		in.hist.stop(in.log)
		in.eng.Close()
		return nil, err
	}
	vi := version.Get()
	in.log.Info("nxray started", "version", vi.Version, "revision", vi.Revision, "listen", addrStrings(in.srv),
		"upstreams", upstreamStrings(cfg), "strategy", cfg.Strategy, "cache_size", cfg.Cache.Size, "acl", cfg.ACL,
		"status", statusURL(in.page))
	in.check = startUpstreamCheck(in.srv, in.log)
	return in, nil
}

// waitAndStop handles signals until one stops nxray: SIGHUP calls onHUP
// (when not nil), anything else drains the queries in flight for up to
// drain() and stops the proxy, then the status page, then the history
// (writing what is queued), then the engine.
func (in *instance) waitAndStop(drain func() time.Duration, sigs <-chan os.Signal, onHUP func()) {
	for sig := range sigs {
		if sig == syscall.SIGHUP && onHUP != nil {
			onHUP()
			continue
		}
		in.log.Info("stopping", "signal", sig.String(), "drain", drain().String())
		break
	}
	in.check.stop()
	ctx, cancel := context.WithTimeout(context.Background(), drain())
	defer cancel()
	if err := in.srv.Shutdown(ctx); err != nil {
		in.log.Warn("shutdown", "error", err.Error())
	}
	in.log.Info("stopped", "queries", in.srv.Stats().Queries)
	stopStatus(in.page, in.log)
	in.hist.stop(in.log)
	in.eng.Close()
}
