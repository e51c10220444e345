// Package schema holds what the configuration schemas of both binaries
// share: vigie_exporter's (package config) and vigie_router's (package
// alertrouter/config). It is small on purpose, and imports nothing heavy:
// whatever lands here is linked into both binaries.
//
// It covers strict YAML decoding and rendering, validation errors that name
// the line and the path of the offending key, Prometheus durations, the
// masking of secrets (and of header values that are not public), and
// Prometheus-style label matchers.
package schema
