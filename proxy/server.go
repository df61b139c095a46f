package proxy

import (
	"github.com/nxray/nxray/internal/upstream"

	"github.com/nxray/nxray/internal/dnscache"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Config is what a Server needs. Zero values are noted per field; New
// rejects what cannot work.
type Config struct {
	// Listen holds IP:port addresses; each gets a UDP and a TCP listener.
	// Port 0 picks a free port, the same for UDP and TCP.
	Listen []string
	// Upstreams must hold at least one resolver.
	Upstreams []Upstream
	// Zones send the names at and under each zone to its own upstreams,
	// with the same strategy and timeouts; the longest zone wins. Zone
	// names are lowercase and fully qualified.
	Zones []Zone
	// Strategy is "failover" (zero value), "parallel" or "random".
	Strategy string
	// Timeout bounds one try at one upstream; zero means 2s.
	Timeout time.Duration
	// Deadline bounds a client's query, all tries included; zero means 5s.
	Deadline time.Duration
	// FailoverRcodes send nxray on to the next upstream; nil means none.
	FailoverRcodes []int
	// HealthInterval spaces the probes of a downed upstream; zero means 2s.
	HealthInterval time.Duration
	// MaxInflight caps queries waiting on upstreams; zero means 2048.
	MaxInflight int
	// ACL lists the client networks served; empty serves no one.
	ACL []netip.Prefix
	// Cache sizes the cache; its zero value disables it.
	Cache CacheConfig
	// TCPMaxConns caps open TCP client connections; zero means 256.
	TCPMaxConns int
	// TCPIdleTimeout closes a quiet TCP connection; zero means 10s.
	TCPIdleTimeout time.Duration
	// TCPMaxPerClient caps the TCP connections one client address may hold
	// open, so that one client cannot take them all; zero means 32.
	TCPMaxPerClient int
	// MaxUDPSize caps an answer over UDP whatever buffer size the client
	// offers; larger answers are truncated (TC). Zero means 1232.
	MaxUDPSize int
	// LogQueries logs one line per query at Info.
	LogQueries bool
	// Logger receives lifecycle and query logs; nil discards them.
	Logger *slog.Logger
	// Observer is told of every failed answer; nil tells no one.
	Observer Observer
	// Recorder is told of every answer and upstream try; nil tells no one.
	Recorder Recorder
	// QueryLog is told of every answered query; nil tells no one. Like
	// Recorder, it is read from the first config only (reloads keep it).
	QueryLog QueryLog
	// Annotator explains failing answers in an EDE; nil adds none.
	Annotator Annotator
	// AnnotateWait > 0 holds a failing answer from an upstream up to this
	// long for its explanation; zero annotates only what is already known.
	AnnotateWait time.Duration
	// Now is the clock; nil means time.Now. Tests set it to move TTLs.
	Now func() time.Time
}

// forcePktinfo serves UDP as on a wildcard address, whatever the address:
// for tests, which listen on loopback only (main_test.go).
var forcePktinfo bool

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, 2*time.Second)
	def(&c.Deadline, 5*time.Second)
	def(&c.HealthInterval, 2*time.Second)
	def(&c.TCPIdleTimeout, 10*time.Second)
	if c.Strategy == "" {
		c.Strategy = "failover"
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 2048
	}
	if c.TCPMaxConns == 0 {
		c.TCPMaxConns = 256
	}
	if c.TCPMaxPerClient == 0 {
		c.TCPMaxPerClient = 32
	}
	if c.MaxUDPSize == 0 {
		c.MaxUDPSize = maxUDPSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	if len(c.Upstreams) == 0 {
		return errors.New("no upstreams")
	}
	for _, z := range c.Zones {
		if len(z.Upstreams) == 0 {
			return fmt.Errorf("no upstreams for zone %s", z.Zone)
		}
	}
	switch c.Strategy {
	case "failover", "parallel", "random":
	default:
		return fmt.Errorf("unknown strategy %q", c.Strategy)
	}
	if c.Deadline < c.Timeout {
		return fmt.Errorf("deadline %s is shorter than the timeout %s", c.Deadline, c.Timeout)
	}
	return nil
}

// CacheConfig sizes the cache (package dnscache).
type CacheConfig = dnscache.Config

// Upstream is one resolver nxray forwards to (package upstream).
type Upstream = upstream.Upstream

var (
	// ErrMismatch is an answer whose ID or question is not the query's.
	ErrMismatch = upstream.ErrMismatch
	// ErrNoUpstream is the error of a query that no upstream answered.
	ErrNoUpstream = upstream.ErrNoUpstream
)

// Zone is a forward zone: the names at and under Zone go to Upstreams.
type Zone struct {
	Zone      string
	Upstreams []Upstream
}

// routing is the part of the server that SIGHUP may replace.
type routing struct {
	pool         *upstream.Pool // every name outside zones
	zones        []zonePool     // longest zone first
	acl          []netip.Prefix
	logQueries   bool
	annotator    Annotator
	annotateWait time.Duration
}

// Server is a caching DNS forwarder. Create it with New, then Start it;
// Shutdown stops it. It is a dns.Handler, safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	cache    *dnscache.Cache // nil when disabled
	route    atomic.Pointer[routing]
	inflight chan struct{} // a slot per query waiting on upstreams
	stats    counters
	ctx      context.Context // ends at shutdown: at the drain deadline, or once drained
	cancel   context.CancelFunc

	mu    sync.Mutex // guards udp, tcp and addrs
	udp   []*udpServer
	tcp   []*tcpServer
	addrs []net.Addr
}

var _ dns.Handler = (*Server)(nil) // ServeDNS (client.go)

// New checks cfg and builds a server; nothing is bound until Start.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c, err := dnscache.New(cfg.Cache)
	if err != nil {
		return nil, fmt.Errorf("building cache: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger, cache: c, inflight: make(chan struct{}, cfg.MaxInflight),
		ctx: ctx, cancel: cancel}
	s.route.Store(s.newRouting(cfg))
	return s, nil
}

func (s *Server) newRouting(cfg Config) *routing {
	var rec upstream.Recorder
	if cfg.Recorder != nil {
		rec = cfg.Recorder
	}
	newPool := func(zone string, ups []Upstream) *upstream.Pool {
		return upstream.NewPool(upstream.Config{Upstreams: ups, Zone: zone, Strategy: cfg.Strategy, Timeout: cfg.Timeout,
			FailoverRcodes: cfg.FailoverRcodes, HealthInterval: cfg.HealthInterval, Log: s.log,
			Mismatched: &s.stats.mismatched, Recorder: rec, Context: s.ctx})
	}
	var zones []zonePool
	for _, z := range cfg.Zones {
		zones = append(zones, zonePool{zone: z.Zone, pool: newPool(z.Zone, z.Upstreams)})
	}
	slices.SortStableFunc(zones, func(a, b zonePool) int { return len(b.zone) - len(a.zone) })
	return &routing{
		pool:         newPool("", cfg.Upstreams),
		zones:        zones,
		acl:          cfg.ACL,
		logQueries:   cfg.LogQueries,
		annotator:    cfg.Annotator,
		annotateWait: cfg.AnnotateWait,
	}
}

// Reload swaps in new upstreams, strategy, timeouts, ACL, query logging
// and annotation without touching the listeners or the cache. Listen
// addresses and the observer are not reloaded.
func (s *Server) Reload(cfg Config) error {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	old := s.route.Swap(s.newRouting(cfg))
	old.close()
	return nil
}

// Start binds every listen address over UDP and TCP and serves them. A bind
// failure stops everything already bound and is returned.
func (s *Server) Start() error {
	for _, addr := range s.cfg.Listen {
		pc, ln, err := bindPair(addr)
		if err != nil {
			s.Shutdown(context.Background())
			return err
		}
		t := newTCPServer(s, newCappedListener(ln, s.cfg.TCPMaxConns, s.cfg.TCPMaxPerClient, &s.stats.tcpRejected))
		s.mu.Lock()
		s.addrs = append(s.addrs, pc.LocalAddr(), ln.Addr())
		s.tcp = append(s.tcp, t)
		t.start()
		u, err := newUDPServer(s, pc.(*net.UDPConn), pc.LocalAddr().(*net.UDPAddr).IP.IsUnspecified() || forcePktinfo)
		if err != nil {
			s.mu.Unlock()
			pc.Close()
			s.Shutdown(context.Background())
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		s.udp = append(s.udp, u)
		u.start()
		s.mu.Unlock()
	}
	return nil
}

// Addrs lists the bound addresses: UDP then TCP for each listen address.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Shutdown stops accepting queries, lets those in flight finish until ctx
// ends, then stops the health probes. It waits for every goroutine it owns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	udp, tcp := s.udp, s.tcp
	s.udp, s.tcp = nil, nil
	s.mu.Unlock()
	// Past the drain deadline, queries still waiting on upstreams give up.
	stop := context.AfterFunc(ctx, s.abort)
	defer stop()
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		errs  []error
	)
	shutdown := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		}()
	}
	for _, u := range udp {
		shutdown(u.shutdown)
	}
	for _, t := range tcp {
		shutdown(t.shutdown)
	}
	wg.Wait()
	s.cancel()
	s.route.Load().close()
	return errors.Join(errs...)
}

// abort makes the queries in flight give up at once: no new try starts,
// and those waiting on an upstream are woken.
func (s *Server) abort() { s.cancel() }

// bindPair binds addr over UDP and TCP on the same port. With port 0 it
// picks a UDP port first and tries a few until TCP can have it too.
func bindPair(addr string) (net.PacketConn, net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen address %q: want IP:port", addr)
	}
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, bindError(addr, err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", netip.AddrPortFrom(ap.Addr(), uint16(port)).String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if ap.Port() != 0 {
			return nil, nil, bindError(addr, err)
		}
	}
	return nil, nil, fmt.Errorf("listening on %s: no port free for both UDP and TCP", addr)
}

func bindError(addr string, err error) error {
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("listening on %s: %w: ports below 1024 need privilege; use --listen 127.0.0.1:5353, "+
			"or grant it with: sudo setcap cap_net_bind_service=+ep $(command -v nxray)", addr, err)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listening on %s: %w: another DNS server (systemd-resolved, dnsmasq?) holds it; "+
			"pick another --listen address", addr, err)
	}
	return fmt.Errorf("listening on %s: %w", addr, err)
}
