package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// DefaultAddr is where the status page listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8053"

// Engine is what the page reads of the diagnosis engine; *diagnose.Engine
// has it. Safe for concurrent use.
type Engine interface {
	// Verdicts returns the live verdicts, newest first.
	Verdicts() []diagnose.Verdict
	Get(id string) (diagnose.Verdict, bool)
	// Subscribe delivers each new verdict until the returned func is called;
	// a slow subscriber misses verdicts rather than slowing the engine.
	Subscribe() (<-chan diagnose.Verdict, func())
	Stats() diagnose.Stats
}

// Proxy is what the page reads of the proxy; *proxy.Server has it. Safe for
// concurrent use.
type Proxy interface {
	Stats() proxy.Stats
	Upstreams() []proxy.UpstreamState
}

var (
	_ Engine = (*diagnose.Engine)(nil)
	_ Proxy  = (*proxy.Server)(nil)
)

// Config is what a Server needs.
type Config struct {
	// Addr is IP:port; "" means DefaultAddr (callers that want no status
	// page do not build a Server). Port 0 picks a free port.
	Addr string
	// Token, when set, must come with every request but /healthz, as
	// "Authorization: Bearer TOKEN" (or ?token= for the page, its static
	// files and the event stream, which a browser cannot give a header).
	// Required when Addr is not loopback.
	Token string
	// Hosts are further names (host or host:port) requests may carry in
	// Host, beyond loopback names and addresses and Addr's host (or, when
	// Addr is unspecified, the machine's interface addresses); requests
	// for any other host are refused, so that a page whose name rebinds to
	// this address cannot read or drive the status page. A bare host
	// matches any port.
	Hosts []string
	// Engine is required.
	Engine Engine
	// Proxy may be nil: the page then shows no traffic or upstreams.
	Proxy Proxy
	// Flusher empties the proxy's cache (POST /api/v1/cache/flush and the
	// page's "flush and ask again"); nil answers 503 on a flush.
	Flusher Flusher
	// Explain diagnoses a name on demand; nil answers 503 on explain.
	Explain func(ctx context.Context, name string, qtype uint16) diagnose.Verdict
	// History is the query log and the verdicts kept on disk; nil shows
	// live verdicts only.
	History History
	// Metrics is served at /metrics and counts verdicts; nil makes one
	// (with no proxy counters). One running Server per Metrics.
	Metrics *Metrics
	// Logger may be nil: logs are then discarded.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the status page, the API and the metrics. Create it with
// New, then Start; Shutdown stops it, open event streams included.
type Server struct {
	cfg      Config
	log      *slog.Logger
	started  time.Time
	loopback bool
	limiter  *rate.Limiter // explains on demand
	hosts    *hostGuard
	cop      *http.CrossOriginProtection
	handler  http.Handler
	hub      *hub

	// ctx is the base of every request's context; Shutdown cancels it so
	// that event streams and explains under way end.
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex // guards srv, ln
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup // the serve loop and the hub
	stop sync.Once
}

// New checks cfg and builds a server; nothing is bound until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Engine == nil {
		return nil, errors.New("status: Engine is required")
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("status: address %q: %w", cfg.Addr, err)
	}
	loop := isLoopback(host)
	if !loop && cfg.Token == "" {
		return nil, fmt.Errorf("status: %s is reachable beyond this machine: set a token (http_token) or bind a loopback address", cfg.Addr)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Proxy != nil {
		cfg.Metrics.sources.proxy.Store(&proxySource{cfg.Proxy})
	}
	cfg.Metrics.sources.engine.Store(&engineSource{cfg.Engine})
	s := &Server{cfg: cfg, log: cfg.Logger, started: cfg.Now(), loopback: loop,
		// An explain sends dozens of probes: a few in a row, then one every
		// two seconds, so the page cannot be used to flood anyone.
		limiter: rate.NewLimiter(rate.Every(2*time.Second), 5),
		hosts:   newHostGuard(cfg.Addr, cfg.Hosts, cfg.Now), cop: http.NewCrossOriginProtection()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hub = newHub(cfg.Metrics)
	s.handler = s.routes()
	return s, nil
}

// isLoopback says whether host (an IP or "localhost") reaches only this
// machine. "" and unspecified addresses listen on every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start binds Addr and serves it; a bind failure is returned.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	// Verdicts are counted by the running server's hub: two would count
	// each twice.
	if !s.cfg.Metrics.attached.CompareAndSwap(false, true) {
		ln.Close()
		return errors.New("status page: these Metrics already belong to a running Server")
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		// No WriteTimeout: event streams stay open; they end with the
		// client or with Shutdown.
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	if !s.loopback {
		s.log.Warn("status page reachable beyond this machine; every request but /healthz needs the token",
			"addr", ln.Addr().String())
	}
	verdicts, unsubscribe := s.cfg.Engine.Subscribe()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.hub.run(s.ctx, verdicts, unsubscribe)
	}()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("status page stopped", "error", err.Error())
		}
	}()
	return nil
}

// Addr is the bound address, or the configured one before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Addr
}

// URL is the page's address, for logs and the demo.
func (s *Server) URL() string { return "http://" + s.Addr() + "/" }

// Shutdown ends event streams and explains under way, lets other requests
// finish until ctx ends, and waits for every goroutine the server started.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stop.Do(func() {
		s.cancel()
		s.mu.Lock()
		srv := s.srv
		s.mu.Unlock()
		if srv != nil {
			err = srv.Shutdown(ctx)
		}
		s.wg.Wait()
	})
	return err
}

// Handler is the whole HTTP side without a listener, for embedding.
func (s *Server) Handler() http.Handler { return s.handler }
