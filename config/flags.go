package config

import (
	"github.com/spf13/pflag"
)

// flagKeys maps each flag to the configuration key it sets.
var flagKeys = map[string]string{
	"listen":        "listen",
	"upstream":      "upstreams",
	"alternate":     "alternates",
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

	"diagnosis-workers":      "diagnosis.workers",
	"diagnosis-queue-size":   "diagnosis.queue_size",
	"diagnosis-store-size":   "diagnosis.store_size",
	"diagnosis-verdict-ttl":  "diagnosis.verdict_ttl",
	"diagnosis-probe-rate":   "diagnosis.probe_rate",
	"diagnosis-probe-burst":  "diagnosis.probe_burst",
	"diagnosis-probe-budget": "diagnosis.probe_budget",
	"diagnosis-timeout":      "diagnosis.timeout",
}

// Flags returns a fresh flag set with every configuration flag, for serve and
// explain alike. Pass it, parsed, to Load.
func Flags(name string) *pflag.FlagSet {
	d := Default()
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.String("config", "", "YAML configuration file (keys as in nxray.example.yaml)")
	fs.StringSlice("listen", d.Listen, "address to answer on over UDP and TCP, IP:port (repeatable)")
	fs.StringSlice("upstream", d.Upstreams, "resolver to forward to: IP, IP:port, udp://IP:port, tcp://IP:port or system (repeatable)")
	fs.String("strategy", d.Strategy, "how upstreams are used: failover (in order), parallel (first good answer) or random")
	fs.Duration("timeout", d.Timeout, "time allowed for one try at one upstream")
	fs.StringSlice("acl", d.ACL, "client networks served; others are REFUSED (repeatable)")
	fs.Int("cache-size", d.Cache.Size, "answers kept in the cache; 0 disables it")
	fs.StringSlice("alternate", d.Alternates, "resolver the diagnosis compares against (repeatable)")
	fs.String("root-hints", "", "root server IPs (IP,IP) or a hints file for the delegation walk")
	fs.String("trust-anchors", "", "file of DS or DNSKEY records to use as DNSSEC trust anchors")
	fs.Int("auth-port", d.AuthPort, "port used to reach authoritative servers (labs change it)")
	fs.Int("diagnosis-workers", d.Diagnosis.Workers, "diagnoses run at once, 1 to 256 (changes on restart)")
	fs.Int("diagnosis-queue-size", d.Diagnosis.QueueSize, "failures waiting for a worker, up to 1000000; beyond it they are dropped and counted (changes on restart)")
	fs.Int("diagnosis-store-size", d.Diagnosis.StoreSize, "verdicts kept, up to 1000000 (changes on restart)")
	fs.Duration("diagnosis-verdict-ttl", d.Diagnosis.VerdictTTL, "how long a verdict is kept after it was last seen (changes on restart)")
	fs.Float64("diagnosis-probe-rate", d.Diagnosis.ProbeRate, "probes per second, all diagnoses together, above 0 and up to 10000 (changes on restart)")
	fs.Int("diagnosis-probe-burst", d.Diagnosis.ProbeBurst, "probes that may go back to back before the rate spaces them, up to 10000 (changes on restart)")
	fs.Int("diagnosis-probe-budget", d.Diagnosis.ProbeBudget, "probes one diagnosis may send, up to 10000 (changes on restart)")
	fs.Duration("diagnosis-timeout", d.Diagnosis.Timeout, "time allowed for one diagnosis, all its probes (changes on restart)")
	fs.String("http", d.HTTP, "status page address; empty disables it")
	fs.String("http-token", d.HTTPToken, "bearer token for the status page and API; required when --http is not loopback")
	fs.String("annotate", d.Annotate, "attach diagnoses to answers: off, cached or wait:DURATION")
	fs.String("log-format", d.Log.Format, "log format: text or json")
	fs.String("log-level", d.Log.Level, "log level: debug, info, warn or error")
	fs.Bool("log-queries", d.Log.Queries, "log every query with client, name, type, rcode, upstream and duration")
	return fs
}
