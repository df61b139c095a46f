package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/proxy"
)

// startStatus builds and starts the status page for serve, with explain on
// demand through a prober of its own (so the page's explains do not share
// the engine's probe budget). It returns nil, nil, nil when cfg.HTTP is
// empty; otherwise the page's explainer too, for reloads.
func startStatus(cfg config.Config, srv *proxy.Server, eng *diagnose.Engine, hist status.History, m *status.Metrics,
	log *slog.Logger) (*status.Server, *pageExplainer, error) {
	if cfg.HTTP == "" {
		return nil, nil, nil
	}
	ex := new(pageExplainer)
	if err := ex.set(cfg); err != nil {
		return nil, nil, err
	}
	st, err := runStatus(status.Config{Addr: cfg.HTTP, Token: cfg.HTTPToken, Hosts: cfg.HTTPHosts, Engine: eng, Proxy: srv, Flusher: srv,
		Explain: ex.explain, History: hist, Metrics: m, Logger: log})
	return st, ex, err
}

// pageExplainer explains names for the status page with the configuration
// of the last successful (re)load. Safe for concurrent use.
type pageExplainer struct {
	cur atomic.Pointer[explainTarget]
}

// explainTarget is what one configuration explains with.
type explainTarget struct {
	prober  diagnose.Prober
	cfg     config.Config // for the upstream a name is asked of first
	timeout time.Duration
}

// set switches later explains to cfg's prober, upstreams and timeout.
// A nil receiver (no status page) does nothing.
func (e *pageExplainer) set(cfg config.Config) error {
	if e == nil {
		return nil
	}
	p, err := newProber(cfg)
	if err != nil {
		return err
	}
	e.cur.Store(&explainTarget{prober: p, cfg: cfg, timeout: cfg.Timeout})
	return nil
}

func (e *pageExplainer) explain(ctx context.Context, name string, qt uint16) diagnose.Verdict {
	t := e.cur.Load()
	return runExplain(ctx, t.prober, explainUpstream(t.cfg, name), t.timeout, name, qt)
}

// runStatus builds and starts a status server. An address in use says how
// to get past it.
func runStatus(cfg status.Config) (*status.Server, error) {
	st, err := status.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := st.Start(); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, portInUse(cfg.Addr)
		}
		return nil, err
	}
	return st, nil
}

// pageInUse is the error of a status page whose address is taken: it names
// the address and the two ways out, the next port up (down from 65535) or
// no page.
type pageInUse struct{ addr string }

func portInUse(addr string) error { return &pageInUse{addr: addr} }

func (e *pageInUse) Error() string {
	next := e.addr
	if ap, err := netip.ParseAddrPort(e.addr); err == nil {
		p := ap.Port() + 1
		if ap.Port() == 65535 {
			p = ap.Port() - 1
		}
		next = netip.AddrPortFrom(ap.Addr(), p).String()
	}
	return fmt.Sprintf(`status page: %s is in use; give another address with --http %s or turn the page off with --http ""`,
		e.addr, next)
}

func (e *pageInUse) Unwrap() error { return syscall.EADDRINUSE }

// stopStatus ends the status page, open event streams included; st may be
// nil.
func stopStatus(st *status.Server, log *slog.Logger) {
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := st.Shutdown(ctx); err != nil {
		log.Warn("status page shutdown", "error", err.Error())
	}
}

// statusURL is the page's address for logs; "" when it is off.
func statusURL(st *status.Server) string {
	if st == nil {
		return ""
	}
	return st.URL()
}
