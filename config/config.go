package config

import (
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Config is nxray's whole configuration after loading and validation.
// The zero value is not useful; use Default or Load.
type Config struct {
	// Listen holds the addresses nxray answers on, over UDP and TCP both.
	Listen []string `mapstructure:"listen"`
	// Upstreams are the resolvers queries are forwarded to; "system" stands
	// for the nameservers of ResolvConf.
	Upstreams []string `mapstructure:"upstreams"`
	// ForwardZones send the names at and under a zone to that zone's own
	// upstreams ("zone=up,up" entries; the longest zone wins).
	ForwardZones ZoneList `mapstructure:"forward_zones"`
	// PrivateZones are names the diagnosis never sends to the alternates or
	// the root hints (forward zones are private too).
	PrivateZones []string `mapstructure:"private_zones"`
	// Alternates are the resolvers the diagnosis compares against.
	Alternates []string `mapstructure:"alternates"`
	// Bootstrap are the plain resolvers (IP addresses, or "system") that
	// the names of tls:// and https:// upstreams are looked up through, at
	// start and on reload.
	Bootstrap []string `mapstructure:"bootstrap"`
	// TLSCAFile is a PEM file of CA certificates trusted beside the
	// system's for tls:// and https:// upstreams; "" trusts the system's.
	TLSCAFile string `mapstructure:"tls_ca_file"`
	// ResolvConf is where "system" upstreams are read from.
	ResolvConf string `mapstructure:"resolv_conf"`
	// Strategy is failover, parallel or random.
	Strategy string `mapstructure:"strategy"`
	// Timeout bounds one try at one upstream.
	Timeout time.Duration `mapstructure:"timeout"`
	// Deadline bounds a whole client query, every try included.
	Deadline time.Duration `mapstructure:"deadline"`
	// FailoverRcodes are the answers that make nxray try the next upstream.
	FailoverRcodes []string `mapstructure:"failover_rcodes"`
	// HealthInterval is how often a downed upstream is probed.
	HealthInterval time.Duration `mapstructure:"health_interval"`
	// MaxInflight caps queries waiting on upstreams; beyond it nxray answers
	// SERVFAIL at once. Cache hits do not count.
	MaxInflight int `mapstructure:"max_inflight"`
	// ACL lists the client networks served; others get REFUSED.
	ACL []string `mapstructure:"acl"`
	// MaxUDPSize caps answers over UDP, whatever buffer size the client
	// offers; larger answers go out truncated, for the client to ask again
	// over TCP. It keeps nxray from amplifying spoofed queries.
	MaxUDPSize int `mapstructure:"max_udp_size"`

	RootHints    string `mapstructure:"root_hints"`
	TrustAnchors string `mapstructure:"trust_anchors"`
	AuthPort     int    `mapstructure:"auth_port"`
	// HTTP is the status page address; empty disables it.
	HTTP string `mapstructure:"http"`
	// HTTPToken is the bearer token the status page asks for; required when
	// HTTP is not a loopback address.
	HTTPToken string `mapstructure:"http_token"`
	// HTTPHosts are further host names the status page answers to (beyond
	// loopback names and addresses and the http address itself), as when it
	// is reached through a proxy or a DNS name.
	HTTPHosts []string `mapstructure:"http_hosts"`
	// Annotate is off, cached, or wait:DURATION.
	Annotate string `mapstructure:"annotate"`

	Cache     Cache         `mapstructure:"cache"`
	TCP       TCP           `mapstructure:"tcp"`
	Diagnosis Diagnosis     `mapstructure:"diagnosis"`
	Log       Log           `mapstructure:"log"`
	History   History       `mapstructure:"history"`
	Shutdown  time.Duration `mapstructure:"shutdown_timeout"`

	// Parsed holds the validated forms of the fields above; Load fills it.
	Parsed Parsed `mapstructure:"-"`
}

// Cache configures the answer cache.
type Cache struct {
	// Size is the number of answers kept; 0 disables the cache.
	Size int `mapstructure:"size"`
	// NegativeSize is the number of negative answers (NXDOMAIN, NODATA,
	// SERVFAIL) kept apart from the others, so that a flood of names that
	// do not exist cannot push out the answers that do.
	NegativeSize   int           `mapstructure:"negative_size"`
	MinTTL         time.Duration `mapstructure:"min_ttl"`
	MaxTTL         time.Duration `mapstructure:"max_ttl"`
	NegativeMaxTTL time.Duration `mapstructure:"negative_max_ttl"`
	// ServfailTTL is how long a SERVFAIL is kept; 0 does not cache them.
	ServfailTTL time.Duration `mapstructure:"servfail_ttl"`
}

// TCP bounds the TCP listeners.
type TCP struct {
	MaxConnections int `mapstructure:"max_connections"`
	// MaxPerClient caps the connections one client address may hold.
	MaxPerClient int           `mapstructure:"max_per_client"`
	IdleTimeout  time.Duration `mapstructure:"idle_timeout"`
}

// Diagnosis sizes the diagnosis engine. Every field is above zero once
// validated: unlike diagnose.Config, zero here is an error, not the default.
// The engine is built once, so these change only on restart.
type Diagnosis struct {
	// Workers is how many diagnoses run at once.
	Workers int `mapstructure:"workers"`
	// QueueSize is how many failures wait for a worker; beyond it they are
	// dropped and counted.
	QueueSize int `mapstructure:"queue_size"`
	// StoreSize is how many verdicts are kept.
	StoreSize int `mapstructure:"store_size"`
	// VerdictTTL is how long a verdict is kept after it was last seen.
	VerdictTTL time.Duration `mapstructure:"verdict_ttl"`
	// ProbeRate is probes per second, all diagnoses together.
	ProbeRate float64 `mapstructure:"probe_rate"`
	// ProbeBurst is how many probes may go back to back before ProbeRate
	// spaces them.
	ProbeBurst int `mapstructure:"probe_burst"`
	// ProbeBudget is how many probes one diagnosis may send.
	ProbeBudget int `mapstructure:"probe_budget"`
	// Timeout bounds one diagnosis, all its probes.
	Timeout time.Duration `mapstructure:"timeout"`
	// DenyNetworks are never probed, whatever NS records or glue lead to
	// them; nxray's own listen addresses never are either.
	DenyNetworks []string `mapstructure:"deny_networks"`
}

// Log configures logging.
type Log struct {
	Format  string `mapstructure:"format"`
	Level   string `mapstructure:"level"`
	Queries bool   `mapstructure:"queries"`
}

// Parsed is the machine form of the configuration, filled by Validate.
type Parsed struct {
	Upstreams      []Upstream
	ForwardZones   []ForwardZone // longest zone first
	PrivateZones   []string      // lowercase FQDNs, forward zones included
	Alternates     []Upstream
	ACL            []netip.Prefix
	FailoverRcodes []int
	AnnotateWait   time.Duration
	RootHints      []string  // IPs
	TrustAnchors   []*dns.DS // DS records of the root's keys
	DenyNetworks   []netip.Prefix
	Bootstrap      []Upstream
	// TLS holds the roots tls:// and https:// upstreams are checked
	// against: the system's plus tls_ca_file's; nil means the system's.
	TLS *tls.Config
}

// Upstream is one resolver address with its transport.
type Upstream struct {
	// Net is "udp" (UDP, TCP when truncated), "tcp" (TCP only), "tls" (DNS
	// over TLS) or "https" (DNS over HTTPS).
	Net string
	// Addr is IP:port, once Host is looked up.
	Addr string
	// Host is the name a tls:// or https:// upstream was given by, looked
	// up through the bootstrap resolvers; "" when it was an IP.
	Host string
	// ServerName is the name the certificate must carry (#NAME, or Host);
	// "" means Addr's IP.
	ServerName string
	// Path is an https:// upstream's URL path.
	Path string
	// GET asks an https:// upstream by GET (the URL ended in {?dns}),
	// rather than POST.
	GET bool
}

// String gives the address as a user writes it, with the IP it goes to.
func (u Upstream) String() string {
	name := ""
	if u.ServerName != "" {
		name = "#" + u.ServerName
	}
	switch u.Net {
	case "tcp":
		return "tcp://" + u.Addr
	case "tls":
		return "tls://" + u.Addr + name
	case "https":
		if u.GET {
			return "https://" + u.Addr + u.Path + "{?dns}" + name
		}
		return "https://" + u.Addr + u.Path + name
	}
	return u.Addr
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:         []string{"127.0.0.1:53"},
		Upstreams:      []string{"system"},
		PrivateZones:   DefaultPrivateZones,
		Alternates:     []string{"1.1.1.1", "8.8.8.8", "9.9.9.9"},
		Bootstrap:      []string{"system"},
		ResolvConf:     "/etc/resolv.conf",
		Strategy:       "failover",
		Timeout:        2 * time.Second,
		Deadline:       5 * time.Second,
		FailoverRcodes: []string{"SERVFAIL", "REFUSED"},
		HealthInterval: 2 * time.Second,
		MaxInflight:    2048,
		ACL: []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
			"192.168.0.0/16", "fc00::/7"},
		AuthPort: 53,
		HTTP:     "127.0.0.1:8053",
		Annotate: "cached",
		Cache: Cache{
			Size:           10000,
			NegativeSize:   2500,
			MinTTL:         0,
			MaxTTL:         24 * time.Hour,
			NegativeMaxTTL: time.Hour,
			ServfailTTL:    5 * time.Second,
		},
		MaxUDPSize: 1232,
		TCP:        TCP{MaxConnections: 256, MaxPerClient: 32, IdleTimeout: 10 * time.Second},
		Diagnosis: Diagnosis{
			Workers:     4,
			QueueSize:   256,
			StoreSize:   1000,
			VerdictTTL:  10 * time.Minute,
			ProbeRate:   100,
			ProbeBurst:  20,
			ProbeBudget: 64,
			Timeout:     10 * time.Second,
			DenyNetworks: []string{"0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4",
				"240.0.0.0/4", "::/128", "fe80::/10", "ff00::/8"},
		},
		Log:      Log{Format: "text", Level: "info"},
		History:  History{Path: DefaultHistoryPath(), Retention: 7 * 24 * time.Hour, MaxQueries: 1_000_000, MaxRate: 250},
		Shutdown: 5 * time.Second,
	}
}
