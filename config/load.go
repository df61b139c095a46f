package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
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

// Load builds the configuration from defaults, the file named by --config,
// NXRAY_* environment variables and the flags that were set, in that order of
// precedence (later wins), then validates it. fs may be nil.
func Load(fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	setDefaults(v, "", reflect.ValueOf(Default()))
	v.SetEnvPrefix("NXRAY")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	var file string
	if fs != nil {
		if f := fs.Lookup("config"); f != nil {
			file = f.Value.String()
		}
		for name, key := range flagKeys {
			if f := fs.Lookup(name); f != nil && f.Changed {
				if err := v.BindPFlag(key, f); err != nil {
					return Config{}, fmt.Errorf("binding --%s: %w", name, err)
				}
			}
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("reading config file %s: %w", file, err)
		}
	}

	var cfg Config
	hook := viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		numberHook,
		durationHook,
		mapstructure.StringToSliceHookFunc(","),
	))
	if err := v.UnmarshalExact(&cfg, hook); err != nil {
		if file != "" {
			return Config{}, fmt.Errorf("config file %s: %w", file, err)
		}
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// setDefaults registers every field of the default config with viper, so
// that environment variables are seen for every key and unknown keys in a
// file stand out.
func setDefaults(v *viper.Viper, prefix string, rv reflect.Value) {
	rt := rv.Type()
	for i := range rt.NumField() {
		tag := rt.Field(i).Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		if rv.Field(i).Kind() == reflect.Struct {
			setDefaults(v, key+".", rv.Field(i))
			continue
		}
		v.SetDefault(key, rv.Field(i).Interface())
	}
}

// durationHook decodes "300ms" or "5s" and, unlike mapstructure's own,
// names the value it could not read.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	d, err := time.ParseDuration(data.(string))
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration such as 300ms or 5s", data)
	}
	return d, nil
}

// numberHook refuses numbers that decoding would quietly turn into another
// value: a fraction for a count (workers: 2.5 would be 2) and a bare number
// for a duration (verdict_ttl: 10 would be 10ns). 0 is 0 in any unit.
func numberHook(from, to reflect.Type, data any) (any, error) {
	v := reflect.ValueOf(data)
	if !v.CanInt() && !v.CanUint() && !v.CanFloat() {
		return data, nil
	}
	switch {
	case to == reflect.TypeFor[time.Duration]():
		if from != to && !v.IsZero() {
			return nil, fmt.Errorf("%v is not a duration such as 300ms or 5s: give a unit", data)
		}
	case v.CanFloat() && (v.Float() != math.Trunc(v.Float()) || math.Abs(v.Float()) >= 1<<63):
		switch to.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return nil, fmt.Errorf("%v is not a whole number", data)
		}
	}
	return data, nil
}

// ErrInvalid marks a configuration that loaded but does not validate.
var ErrInvalid = errors.New("invalid configuration")
