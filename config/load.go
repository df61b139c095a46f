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
