// Package prober runs one probe per /probe request: one file per protocol,
// all behind ProbeFn. A probe writes its gauges into a fresh Registry and
// returns nil on success or an error whose message is the failure reason, a
// short sentence for humans ("HTTP status 503 not in 2xx").
package prober

import (
	"context"
	"log/slog"

	"github.com/vigie-monitoring/vigie/config"
)

// ProbeFn probes target as configured by module. It registers its metrics on
// registry and logs through logger (which also feeds the debug output). It
// returns nil when the probe succeeded; otherwise an error whose message is
// the failure reason. Errors from dialing wrap the underlying error (%w) so
// that a target refused by the policy can be recognised.
//
// The module is the handler's, shared by every probe of it: a prober
// reads it and never changes it. It comes by pointer rather than by value
// (upstream's ProbeFn) so that a probe does not copy the whole module
// (every prober's block, kilobytes) to run.
type ProbeFn func(ctx context.Context, target string, module *config.Module, registry *Registry, logger *slog.Logger) error

// blockOf returns a pointer to a copy of a prober's block of its module,
// which the prober may then change as its own.
func blockOf[T any](block T) *T { return &block }

// probeFuncs are the probe functions of the probers in config's prober
// table (config.Probers), which says everything else about them: names,
// blocks, targets. TestEveryProberHasAProbe checks that the two agree.
var probeFuncs = map[string]ProbeFn{
	"http":      ProbeHTTP,
	"tcp":       ProbeTCP,
	"icmp":      ProbeICMP,
	"dns":       ProbeDNS,
	"grpc":      ProbeGRPC,
	"unix":      ProbeUnix,
	"websocket": ProbeWebsocket,
	"tls":       ProbeTLS,
	"ftp":       ProbeFTP,
	"ssh":       ProbeSSH,
}

// Lookup returns the probe function for a prober name.
func Lookup(prober string) (ProbeFn, bool) {
	fn, ok := probeFuncs[prober]
	return fn, ok
}
