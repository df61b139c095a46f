package config

import (
	"slices"

	"github.com/spf13/pflag"
)

// flagKeys maps each flag to the configuration key it sets. Load binds only
// the flags of this map that the flag set it is given defines.
var flagKeys = map[string]string{
	"listen":        "listen",
	"upstream":      "upstreams",
	"alternate":     "alternates",
	"forward-zone":  "forward_zones",
	"tls-ca-file":   "tls_ca_file",
	"bootstrap":     "bootstrap",
	"root-hints":    "root_hints",
	"trust-anchors": "trust_anchors",
	"auth-port":     "auth_port",
	"http":          "http",
	"http-token":    "http_token",
	"annotate":      "annotate",
	"log-format":    "log.format",
	"log-level":     "log.level",
	"log-queries":   "log.queries",
	"strategy":      "strategy",
	"timeout":       "timeout",
	"acl":           "acl",
	"cache-size":    "cache.size",
	"history-path":  "history.path",

	"diagnosis-workers":      "diagnosis.workers",
	"diagnosis-queue-size":   "diagnosis.queue_size",
	"diagnosis-store-size":   "diagnosis.store_size",
	"diagnosis-verdict-ttl":  "diagnosis.verdict_ttl",
	"diagnosis-probe-rate":   "diagnosis.probe_rate",
	"diagnosis-probe-burst":  "diagnosis.probe_burst",
	"diagnosis-probe-budget": "diagnosis.probe_budget",
	"diagnosis-timeout":      "diagnosis.timeout",
}

// flagDef defines one flag on a set, with its default from d.
type flagDef struct {
	name   string
	define func(fs *pflag.FlagSet, d Config)
}

// flagDefs holds every configuration flag once, in the order help lists
// them.
var flagDefs = []flagDef{
	{"config", func(fs *pflag.FlagSet, d Config) {
		fs.String("config", "", "YAML configuration file (keys as in nxray.example.yaml)")
	}},
	{"listen", func(fs *pflag.FlagSet, d Config) {
		fs.StringSlice("listen", d.Listen, "address to answer on over UDP and TCP, IP:port (repeatable; changes on restart)")
	}},
	{"upstream", func(fs *pflag.FlagSet, d Config) {
		fs.StringSlice("upstream", d.Upstreams, "resolver to forward to: IP, IP:port, udp://IP:port, tcp://IP:port, tls://HOST[:853][#NAME], https://HOST[:443]/PATH[{?dns}][#NAME] or system (repeatable)")
	}},
	{"tls-ca-file", func(fs *pflag.FlagSet, d Config) {
		fs.String("tls-ca-file", d.TLSCAFile, "PEM file of CA certificates trusted, beside the system's, for tls:// and https:// upstreams")
	}},
	{"bootstrap", func(fs *pflag.FlagSet, d Config) {
		fs.StringSlice("bootstrap", d.Bootstrap, "plain resolver (IP, IP:port or system) the names of tls:// and https:// upstreams are looked up through (repeatable)")
	}},
	{"forward-zone", func(fs *pflag.FlagSet, d Config) {
		fs.StringArray("forward-zone", nil, "send names at and under ZONE to their own upstreams: ZONE=UP[,UP...] (repeatable); such names are private")
	}},
	{"strategy", func(fs *pflag.FlagSet, d Config) {
		fs.String("strategy", d.Strategy, "how upstreams are used: failover (in order), parallel (first good answer) or random")
	}},
	{"timeout", func(fs *pflag.FlagSet, d Config) {
		fs.Duration("timeout", d.Timeout, "time allowed for one try at one upstream")
	}},
	{"acl", func(fs *pflag.FlagSet, d Config) {
		fs.StringSlice("acl", d.ACL, "client networks served; others are REFUSED (repeatable)")
	}},
	{"cache-size", func(fs *pflag.FlagSet, d Config) {
		fs.Int("cache-size", d.Cache.Size, "answers kept in the cache; 0 disables it (changes on restart)")
	}},
	{"alternate", func(fs *pflag.FlagSet, d Config) {
		fs.StringSlice("alternate", d.Alternates, "resolver the diagnosis compares against (repeatable)")
	}},
	{"root-hints", func(fs *pflag.FlagSet, d Config) {
		fs.String("root-hints", "", "root server IPs (IP,IP) or a hints file for the delegation walk")
	}},
	{"trust-anchors", func(fs *pflag.FlagSet, d Config) {
		fs.String("trust-anchors", "", "file of DS or DNSKEY records to use as DNSSEC trust anchors")
	}},
	{"auth-port", func(fs *pflag.FlagSet, d Config) {
		fs.Int("auth-port", d.AuthPort, "port used to reach authoritative servers (labs change it)")
	}},
	{"diagnosis-workers", func(fs *pflag.FlagSet, d Config) {
		fs.Int("diagnosis-workers", d.Diagnosis.Workers, "diagnoses run at once, 1 to 256 (changes on restart)")
	}},
	{"diagnosis-queue-size", func(fs *pflag.FlagSet, d Config) {
		fs.Int("diagnosis-queue-size", d.Diagnosis.QueueSize, "failures waiting for a worker, up to 1000000; beyond it they are dropped and counted (changes on restart)")
	}},
	{"diagnosis-store-size", func(fs *pflag.FlagSet, d Config) {
		fs.Int("diagnosis-store-size", d.Diagnosis.StoreSize, "verdicts kept, up to 1000000 (changes on restart)")
	}},
	{"diagnosis-verdict-ttl", func(fs *pflag.FlagSet, d Config) {
		fs.Duration("diagnosis-verdict-ttl", d.Diagnosis.VerdictTTL, "how long a verdict is kept after it was last seen (changes on restart)")
	}},
	{"diagnosis-probe-rate", func(fs *pflag.FlagSet, d Config) {
		fs.Float64("diagnosis-probe-rate", d.Diagnosis.ProbeRate, "probes per second, all diagnoses together, above 0 and up to 10000 (changes on restart)")
	}},
	{"diagnosis-probe-burst", func(fs *pflag.FlagSet, d Config) {
		fs.Int("diagnosis-probe-burst", d.Diagnosis.ProbeBurst, "probes that may go back to back before the rate spaces them, up to 10000 (changes on restart)")
	}},
	{"diagnosis-probe-budget", func(fs *pflag.FlagSet, d Config) {
		fs.Int("diagnosis-probe-budget", d.Diagnosis.ProbeBudget, "probes one diagnosis may send, up to 10000 (changes on restart)")
	}},
	{"diagnosis-timeout", func(fs *pflag.FlagSet, d Config) {
		fs.Duration("diagnosis-timeout", d.Diagnosis.Timeout, "time allowed for one diagnosis, all its probes (changes on restart)")
	}},
	{"http", func(fs *pflag.FlagSet, d Config) {
		fs.String("http", d.HTTP, "status page address; empty disables it (changes on restart)")
	}},
	{"http-token", func(fs *pflag.FlagSet, d Config) {
		fs.String("http-token", d.HTTPToken, "bearer token for the status page and API; required when --http is not loopback (changes on restart)")
	}},
	{"annotate", func(fs *pflag.FlagSet, d Config) {
		fs.String("annotate", d.Annotate, "attach diagnoses to answers: off, cached or wait:DURATION")
	}},
	{"history-path", func(fs *pflag.FlagSet, d Config) {
		fs.String("history-path", d.History.Path, "SQLite file for the query log and verdicts; empty keeps no history (changes on restart)")
	}},
	{"log-format", func(fs *pflag.FlagSet, d Config) {
		fs.String("log-format", d.Log.Format, "log format: text or json (changes on restart)")
	}},
	{"log-level", func(fs *pflag.FlagSet, d Config) {
		fs.String("log-level", d.Log.Level, "log level: debug, info, warn or error")
	}},
	{"log-queries", func(fs *pflag.FlagSet, d Config) {
		fs.Bool("log-queries", d.Log.Queries, "log every query with client, name, type, rcode, upstream and duration")
	}},
}

// explainFlags are what one diagnosis run uses: the file, whom it asks and
// how long it waits for the upstream. Listen addresses (never probed) and
// the deny list still come from the file and the environment.
var explainFlags = []string{"config", "upstream", "forward-zone", "tls-ca-file", "bootstrap", "timeout", "alternate", "root-hints", "trust-anchors", "auth-port"}

// healthFlags find the running proxy: its status page and listen addresses.
var healthFlags = []string{"config", "http", "listen"}

// flushFlags find the running proxy's status page and its token.
var flushFlags = []string{"config", "http", "http-token"}

// ServeFlags adds every configuration flag to fs: serve takes them all.
func ServeFlags(fs *pflag.FlagSet) { addFlags(fs, nil) }

// ExplainFlags adds the flags nxray explain uses to fs.
func ExplainFlags(fs *pflag.FlagSet) { addFlags(fs, explainFlags) }

// HealthFlags adds the flags nxray health uses to fs: --config, --http and
// --listen, so that it finds the addresses serve uses.
func HealthFlags(fs *pflag.FlagSet) { addFlags(fs, healthFlags) }

// Flags returns a fresh flag set with every configuration flag, as serve
// has them. Pass it, parsed, to Load.
func Flags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	ServeFlags(fs)
	return fs
}

// addFlags defines the flags named in only (every flag when only is nil) on
// fs, in the order of flagDefs.
func addFlags(fs *pflag.FlagSet, only []string) {
	d := Default()
	for _, f := range flagDefs {
		if only == nil || slices.Contains(only, f.name) {
			f.define(fs, d)
		}
	}
}

// FlushFlags adds the flags nxray flush uses to fs: --config, --http and
// --http-token, so that it finds the status page serve runs and may use it.
func FlushFlags(fs *pflag.FlagSet) { addFlags(fs, flushFlags) }
