package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Validate checks every key and fills c.Parsed. The error names each bad key
// and its value; several problems are joined.
func (c *Config) Validate() error {
	var p problems
	c.validateBootstrap(&p)
	c.validateResolvers(&p)
	c.validateZones(&p)
	if len(p) == 0 { // no lookups for a configuration that is wrong anyway
		c.resolveNames(&p)
		if listen, err := parseListen(c.Listen); err == nil {
			p = append(p, checkLoops(listen, c.Parsed.Upstreams)...)
		}
	}
	c.validateForwarding(&p)
	c.validateLimits(&p)
	c.validateCache(&p)
	c.validateDiagnosis(&p)
	c.validateHTTP(&p)
	c.validateAnnotate(&p)
	c.validateLog(&p)
	c.validateHistory(&p)
	return errors.Join(p...)
}

// problems collects what Validate finds, in the order it finds it.
type problems []error

// add records err, if there is one.
func (p *problems) add(err error) {
	if err != nil {
		*p = append(*p, err)
	}
}

// bad records a key with a bad value, and why it is bad.
func (p *problems) bad(key string, value any, why string) {
	*p = append(*p, fmt.Errorf("%w: %s: %q: %s", ErrInvalid, key, fmt.Sprint(value), why))
}

// validateResolvers checks the listen addresses and the servers nxray
// asks: upstreams (none of them nxray itself), alternates, root hints and
// trust anchors.
func (c *Config) validateResolvers(p *problems) {
	listen, err := parseListen(c.Listen)
	p.add(err)
	if len(c.Listen) == 0 {
		p.bad("listen", "", "at least one address is needed")
	}
	c.Parsed.Upstreams, err = c.parseUpstreams("upstreams", c.Upstreams)
	p.add(err)
	if len(c.Upstreams) == 0 {
		p.bad("upstreams", "", "at least one upstream is needed")
	}
	*p = append(*p, checkLoops(listen, c.Parsed.Upstreams)...)
	c.Parsed.Alternates, err = c.parseUpstreams("alternates", c.Alternates)
	p.add(err)

	if c.Parsed.RootHints, err = parseRootHints(c.RootHints); err != nil {
		p.bad("root_hints", c.RootHints, err.Error())
	}
	if c.Parsed.TrustAnchors, err = parseTrustAnchors(c.TrustAnchors); err != nil {
		p.bad("trust_anchors", c.TrustAnchors, err.Error())
	}
}

// validateForwarding checks how queries go upstream: the strategy, the
// timeouts, and the rcodes that fail over to the next upstream.
func (c *Config) validateForwarding(p *problems) {
	switch c.Strategy {
	case "failover", "parallel", "random":
	default:
		p.bad("strategy", c.Strategy, "want failover, parallel or random")
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			p.bad(key, d, "must be above zero")
		}
	}
	positive("timeout", c.Timeout)
	positive("deadline", c.Deadline)
	positive("health_interval", c.HealthInterval)
	positive("shutdown_timeout", c.Shutdown)
	positive("tcp.idle_timeout", c.TCP.IdleTimeout)
	if c.Deadline > 0 && c.Deadline < c.Timeout {
		p.bad("deadline", c.Deadline, "must be at least timeout ("+c.Timeout.String()+")")
	}
	c.Parsed.FailoverRcodes = nil
	for _, name := range c.FailoverRcodes {
		rc, ok := dns.StringToRcode[strings.ToUpper(name)]
		if !ok {
			p.bad("failover_rcodes", name, "not an rcode name such as SERVFAIL or REFUSED")
			continue
		}
		c.Parsed.FailoverRcodes = append(c.Parsed.FailoverRcodes, rc)
	}
}

// validateLimits checks the bounds on clients: queries in flight, TCP
// connections, the UDP answer size, and the networks that may ask.
func (c *Config) validateLimits(p *problems) {
	if c.MaxInflight <= 0 {
		p.bad("max_inflight", c.MaxInflight, "must be above zero")
	}
	if c.TCP.MaxConnections <= 0 {
		p.bad("tcp.max_connections", c.TCP.MaxConnections, "must be above zero")
	}
	if c.TCP.MaxPerClient <= 0 {
		p.bad("tcp.max_per_client", c.TCP.MaxPerClient, "must be above zero")
	}
	if c.MaxUDPSize < dns.MinMsgSize || c.MaxUDPSize > dns.MaxMsgSize {
		p.bad("max_udp_size", c.MaxUDPSize, fmt.Sprintf("must be from %d to %d bytes (1232 avoids IP fragmentation)", dns.MinMsgSize, dns.MaxMsgSize))
	}
	c.Parsed.ACL = parsePrefixes(p, "acl", c.ACL, "192.168.0.0/16")
}

// validateCache checks the cache sizes and TTL bounds.
func (c *Config) validateCache(p *problems) {
	if c.Cache.Size < 0 {
		p.bad("cache.size", c.Cache.Size, "must be zero (no cache) or more")
	}
	if c.Cache.NegativeSize < 1 && c.Cache.Size > 0 {
		p.bad("cache.negative_size", c.Cache.NegativeSize, "must be 1 or more (cache.negative_max_ttl: 0s keeps no negative answers)")
	}
	for key, d := range map[string]time.Duration{"cache.min_ttl": c.Cache.MinTTL,
		"cache.max_ttl": c.Cache.MaxTTL, "cache.negative_max_ttl": c.Cache.NegativeMaxTTL,
		"cache.servfail_ttl": c.Cache.ServfailTTL} {
		if d < 0 {
			p.bad(key, d, "must not be negative")
		}
	}
	if c.Cache.MaxTTL < c.Cache.MinTTL {
		p.bad("cache.max_ttl", c.Cache.MaxTTL, "must be at least cache.min_ttl ("+c.Cache.MinTTL.String()+")")
	}
}

// validateDiagnosis checks the diagnosis sizes, the networks it never
// probes, and the port it asks authoritative servers on.
func (c *Config) validateDiagnosis(p *problems) {
	c.Diagnosis.validate(p.bad)
	c.Parsed.DenyNetworks = parsePrefixes(p, "diagnosis.deny_networks", c.Diagnosis.DenyNetworks, "169.254.0.0/16")
	if c.AuthPort < 1 || c.AuthPort > 65535 {
		p.bad("auth_port", c.AuthPort, "must be a port from 1 to 65535")
	}
}

// validateHTTP checks the status page's address, its token, and the Host
// names it answers to.
func (c *Config) validateHTTP(p *problems) {
	if c.HTTP != "" {
		if ap, err := netip.ParseAddrPort(c.HTTP); err != nil {
			p.bad("http", c.HTTP, "want IP:port, or empty to disable")
		} else if !ap.Addr().IsLoopback() && c.HTTPToken == "" {
			p.bad("http_token", "", "required when http ("+c.HTTP+") is not a loopback address: the status page would be open to the network")
		}
	}
	for _, h := range c.HTTPHosts {
		if !validHost(h) {
			p.bad("http_hosts", h, "want a host name or address as a browser sends it in Host, as in nxray.lab or nxray.lab:8053")
		}
	}
}

// validateAnnotate checks the annotate mode and fills c.Parsed.AnnotateWait.
func (c *Config) validateAnnotate(p *problems) {
	c.Parsed.AnnotateWait = 0
	switch {
	case c.Annotate == "off", c.Annotate == "cached":
	case strings.HasPrefix(c.Annotate, "wait:"):
		d, err := time.ParseDuration(strings.TrimPrefix(c.Annotate, "wait:"))
		if err != nil || d <= 0 || d > 5*time.Second {
			p.bad("annotate", c.Annotate, "wait takes a duration above 0 and at most 5s, as in wait:300ms")
		}
		c.Parsed.AnnotateWait = d
	default:
		p.bad("annotate", c.Annotate, "want off, cached or wait:DURATION")
	}
}

// validateLog checks the log format and level.
func (c *Config) validateLog(p *problems) {
	switch c.Log.Format {
	case "text", "json":
	default:
		p.bad("log.format", c.Log.Format, "want text or json")
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		p.bad("log.level", c.Log.Level, "want debug, info, warn or error")
	}
}

// parsePrefixes parses key's list of networks; example is a network to
// show in the message for an entry that is not one.
func parsePrefixes(p *problems, key string, list []string, example string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		pfx, err := parsePrefix(s)
		if err != nil {
			p.bad(key, s, "not a network such as "+example+" or an IP")
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// validHost says whether h is a host as it comes in an HTTP Host header:
// a name or an address, with a port from 1 to 65535 or none.
func validHost(h string) bool {
	if h == "" || strings.ContainsAny(h, "/ \t@?#") {
		return false
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = strings.Trim(h, "[]"), ""
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return host != ""
}

// Upper bounds of the diagnosis sizes: beyond them a typo costs goroutines,
// memory, or a flood of probes at other people's servers.
const (
	maxWorkers = 256
	maxEntries = 1_000_000 // failures waiting, and verdicts kept
	maxProbes  = 10_000    // probes per second, and per burst and per diagnosis
)

// validate checks the diagnosis sizes. Zero is an error here, not "the
// default": the defaults come from Default, so a 0 was written by someone.
func (d Diagnosis) validate(bad func(key string, value any, why string)) {
	between := func(key string, v, hi int) {
		if v < 1 || v > hi {
			bad(key, v, fmt.Sprintf("must be from 1 to %d", hi))
		}
	}
	between("diagnosis.workers", d.Workers, maxWorkers)
	between("diagnosis.queue_size", d.QueueSize, maxEntries)
	between("diagnosis.store_size", d.StoreSize, maxEntries)
	between("diagnosis.probe_burst", d.ProbeBurst, maxProbes)
	between("diagnosis.probe_budget", d.ProbeBudget, maxProbes)
	if !(d.ProbeRate > 0 && d.ProbeRate <= maxProbes) { // NaN fails too
		bad("diagnosis.probe_rate", d.ProbeRate, fmt.Sprintf("must be above 0 and at most %d probes per second", maxProbes))
	}
	if d.VerdictTTL <= 0 {
		bad("diagnosis.verdict_ttl", d.VerdictTTL, "must be above zero")
	}
	if d.Timeout <= 0 {
		bad("diagnosis.timeout", d.Timeout, "must be above zero")
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseListen(addrs []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	var errs []error
	for _, s := range addrs {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: listen: %q: want IP:port, as in 127.0.0.1:53 or [::1]:53", ErrInvalid, s))
			continue
		}
		if ap.Port() != 0 && slices.Contains(out, ap) {
			// Port 0 twice is two ports; anything else would fail to bind.
			errs = append(errs, fmt.Errorf("%w: listen: %q: given twice", ErrInvalid, s))
			continue
		}
		out = append(out, ap)
	}
	return out, errors.Join(errs...)
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("unknown level " + strconv.Quote(s))
}
