package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Load builds the configuration from defaults, the file named by --config,
// NXRAY_* environment variables and the flags that were set, in that order of
// precedence (later wins), then validates it. fs may be nil.
func Load(fs *pflag.FlagSet) (Config, error) {
	cfg, err := decode(fs)
	if err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadUnchecked reads the configuration as Load does but does not validate
// it: Parsed stays empty, and a setting the caller does not use cannot
// fail it (nxray health needs http and listen; an upstream it never asks,
// from a resolv.conf it need not read, is no reason to fail a health check).
func LoadUnchecked(fs *pflag.FlagSet) (Config, error) {
	return decode(fs)
}

// decode reads defaults, file, environment and flags into a Config.
func decode(fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	setDefaults(v, "", reflect.ValueOf(Default()))
	v.SetEnvPrefix("NXRAY")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	// NXRAY_HTTP= turns the page off as --http "" does: a variable that is
	// set, even to nothing, is what its user asked for.
	v.AllowEmptyEnv(true)

	var file string
	flagSet := map[string]bool{} // keys set by a flag
	if fs != nil {
		if f := fs.Lookup("config"); f != nil {
			file = f.Value.String()
		}
		for name, key := range flagKeys {
			if f := fs.Lookup(name); f != nil && f.Changed {
				if err := v.BindPFlag(key, f); err != nil {
					return Config{}, fmt.Errorf("binding --%s: %w", name, err)
				}
				flagSet[key] = true
			}
		}
	}
	if file != "" {
		if err := readFile(v, file); err != nil {
			return Config{}, err
		}
		if err := unknownKeys(v, file); err != nil {
			return Config{}, err
		}
	}

	var cfg Config
	if err := v.UnmarshalExact(&cfg, decodeHook); err != nil {
		if bad := badEnv(flagSet); bad != nil {
			return Config{}, bad
		}
		if file != "" {
			return Config{}, fmt.Errorf("config file %s: %w", file, err)
		}
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// decodeHook turns what viper holds (YAML values, or strings from the
// environment and flags) into Config's types, naming what it cannot read.
var decodeHook = viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
	numberHook,
	durationHook,
	listToStringHook,
	zoneListHook,
	mapstructure.StringToSliceHookFunc(","),
))

// listToStringHook takes a YAML list for a key that holds a comma-separated
// string (root_hints: [IP, IP] as well as "IP,IP"), as every other list key
// takes one.
func listToStringHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.Slice || to.Kind() != reflect.String {
		return data, nil
	}
	v := reflect.ValueOf(data)
	parts := make([]string, v.Len())
	for i := range parts {
		parts[i] = fmt.Sprint(v.Index(i).Interface())
	}
	return strings.Join(parts, ","), nil
}

// knownKeys lists every key Config has, as viper spells them.
func knownKeys() map[string]bool {
	v := viper.New()
	setDefaults(v, "", reflect.ValueOf(Default()))
	known := map[string]bool{}
	for _, k := range v.AllKeys() {
		known[k] = true
	}
	return known
}

// unknownKeys names each key of the file that is not a configuration key,
// with the nearest known one when it looks like a typo.
func unknownKeys(v *viper.Viper, file string) error {
	known := knownKeys()
	var errs []error
	for _, k := range v.AllKeys() {
		if known[k] {
			continue
		}
		msg := fmt.Sprintf("config file %s: unknown key %q", file, k)
		if near := nearest(k, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalid, msg))
	}
	return errors.Join(errs...)
}

// nearest is the known key within two edits of k, if there is one.
func nearest(k string, known map[string]bool) string {
	best, bestD := "", 3
	for c := range known {
		if d := editDistance(k, c); d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// badEnv finds the NXRAY_* variables whose values do not decode, each
// decoded alone, so that the error names the variable and its value rather
// than only the key. Keys a flag set are skipped: the flag won.
func badEnv(flagSet map[string]bool) error {
	var errs []error
	for key := range knownKeys() {
		name := "NXRAY_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		val, ok := os.LookupEnv(name)
		if !ok || flagSet[key] {
			continue
		}
		v := viper.New()
		setDefaults(v, "", reflect.ValueOf(Default()))
		v.Set(key, val)
		var cfg Config
		if err := v.UnmarshalExact(&cfg, decodeHook); err != nil {
			errs = append(errs, fmt.Errorf("%w: environment: %s=%q: %s: %s", ErrInvalid, name, val, key, decodeReason(err)))
		}
	}
	return errors.Join(errs...)
}

// decodeReason is the last line of a mapstructure error, without the key
// it names: "cannot parse value as 'int': ...".
func decodeReason(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	last = strings.TrimPrefix(last, "* ")
	if i := strings.Index(last, "' "); strings.HasPrefix(last, "'") && i > 0 {
		last = last[i+2:]
	}
	for prefix, plain := range map[string]string{
		"cannot parse value as 'int'":     "not a whole number",
		"cannot parse value as 'uint'":    "not a whole number",
		"cannot parse value as 'float64'": "not a number",
		"cannot parse value as 'bool'":    "not true or false",
	} {
		if strings.HasPrefix(last, prefix) {
			return plain
		}
	}
	return last
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
