package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/history"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/proxy"
)

// followEvery spaces the writes of verdicts whose count moved.
const followEvery = 5 * time.Second

// keeper is the history of one instance: the store, and the goroutine that
// keeps the engine's verdicts in it (stop ends it, then closes the store).
type keeper struct {
	store  *history.Store
	cancel context.CancelFunc
	done   chan struct{}
}

// startHistory opens cfg's history, brings its recent verdicts back into
// eng and keeps eng's verdicts in it from now on. It returns nil when
// history.path is empty. A file that cannot be written is not an error:
// nxray serves without history, and the page says why.
func startHistory(cfg config.Config, eng *diagnose.Engine, m *status.Metrics, log *slog.Logger) (*keeper, error) {
	if cfg.History.Path == "" {
		return nil, nil
	}
	st, err := history.Open(history.Config{Path: cfg.History.Path, Retention: cfg.History.Retention,
		MaxQueries: cfg.History.MaxQueries, MaxRate: cfg.History.MaxRate, VerdictTTL: cfg.Diagnosis.VerdictTTL, Log: log})
	if err != nil {
		return nil, err
	}
	restored := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	vs, last, err := st.Recent(ctx, cfg.Diagnosis.VerdictTTL, cfg.Diagnosis.StoreSize)
	cancel()
	if err == nil {
		restored = eng.Restore(vs, last)
	}
	ok, why := st.Health()
	log.Info("history", "path", cfg.History.Path, "written", ok, "reason", why, "verdicts_restored", restored,
		"retention", cfg.History.Retention.String(), "max_queries", cfg.History.MaxQueries,
		"max_rate", cfg.History.MaxRate)
	for _, c := range st.Collectors() {
		m.Registry().MustRegister(c)
	}
	ctx, cancel = context.WithCancel(context.Background())
	k := &keeper{store: st, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		st.Follow(ctx, eng, followEvery)
	}()
	return k, nil
}

// queryLog is the proxy's query log: nil (no interface holding a nil
// store) when there is no history.
func (k *keeper) queryLog() proxy.QueryLog {
	if k == nil {
		return nil
	}
	return k.store
}

// history is the page's: nil when there is none.
func (k *keeper) history() status.History {
	if k == nil {
		return nil
	}
	return k.store
}

// stop writes the verdicts' last counts and what is queued, and closes the
// store. Called after the proxy and the page stopped; k may be nil.
func (k *keeper) stop(log *slog.Logger) {
	if k == nil {
		return
	}
	k.cancel()
	<-k.done
	if err := k.store.Close(); err != nil {
		log.Warn("closing history", "error", err.Error())
	}
}
