// Package config owns nxray's configuration: the Config struct and its defaults,
// loading from a YAML file, NXRAY_* environment variables and command-line flags
// (later sources win), strict decoding and validation with errors that name the
// key and the bad value.
//
// It is the only package that imports viper. Everything below cmd/nxray receives
// plain, validated values from here and never reads the environment itself.
package config
